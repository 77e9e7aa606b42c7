"""SSH and SFTP, shared by the destination types that upload files (``sftp``,
``klaviyo_sftp``) with no vendor's rules in it: the endpoint's settings (:mod:`.endpoint`),
keys and host keys (:mod:`.keys`), the transport (:mod:`.transport`: connect with a verified
host key, upload safely, probe a folder), and the destination they share (:mod:`.files`,
:mod:`.settings`).
"""
