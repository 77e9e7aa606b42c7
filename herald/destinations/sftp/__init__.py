"""SFTP: the transport the SFTP destination types share (connect with a verified host key,
upload safely, probe a folder), with no vendor's rules in it.

See :mod:`herald.destinations.sftp.transport` and :mod:`herald.destinations.sftp.endpoint`.
"""
