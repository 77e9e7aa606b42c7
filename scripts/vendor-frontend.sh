#!/usr/bin/env bash
# Installs the web app's pinned front-end packages with npm into a temporary folder and copies
# the files the app serves into herald/web/static/vendor/, with each package's licence and a
# VERSIONS.md. The copies are committed: the app serves them itself (no CDN, works offline), so
# this runs only to change a pin. Usage: bash scripts/vendor-frontend.sh
set -euo pipefail

# package@version  folder under vendor/  files copied from the package (besides its licences).
# htmx stays on the 2.x line: 4.x is a rewrite whose markup and events are not compatible
# (explicit attribute inheritance, 4xx/5xx responses swapped, hx-disable renamed, new event
# names), and 2.x is still maintained.
PACKAGES=(
  "htmx.org@2.0.11   htmx      dist/htmx.min.js"
  "uplot@1.6.32      uplot     dist/uPlot.iife.min.js dist/uPlot.min.css"
  "axe-core@4.14.1   axe-core  axe.min.js"
)
LICENCE_FILES=(LICENSE LICENSE-3RD-PARTY.txt)

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/herald/web/static/vendor"
command -v npm >/dev/null || { echo "npm is missing: install Node.js and npm, then rerun." >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
specs=()
for entry in "${PACKAGES[@]}"; do
  read -r spec _ <<<"$entry"
  specs+=("$spec")
done
# --ignore-scripts: nothing from a package runs here; the lock file stays in the temporary folder.
(cd "$work" && echo '{"private": true}' >package.json &&
  npm install --ignore-scripts --no-audit --no-fund --loglevel=error "${specs[@]}" >/dev/null)

rm -rf "$dest"
mkdir -p "$dest"
versions="$dest/VERSIONS.md"
{
  echo "# Vendored front-end packages"
  echo
  echo "Installed from the npm registry and copied here by \`scripts/vendor-frontend.sh\` (rerun it to"
  echo "change a pin; do not edit these files by hand). Served by the web app from \`/static/vendor/\`."
  echo "Their checksums are in \`SHA256SUMS\` (\`cd herald/web/static/vendor && sha256sum -c SHA256SUMS\`)."
  echo
  echo "| package | version | licence | files |"
  echo "| --- | --- | --- | --- |"
} >"$versions"

for entry in "${PACKAGES[@]}"; do
  read -r spec folder files <<<"$entry"
  name="${spec%@*}"
  pkg="$work/node_modules/$name"
  version="$(node -p "require('$pkg/package.json').version")"
  licence="$(node -p "require('$pkg/package.json').license")"
  [ "$spec" = "$name@$version" ] || { echo "$name: npm installed $version, not the pin $spec." >&2; exit 1; }
  mkdir -p "$dest/$folder"
  listed=()
  for file in $files; do
    cp "$pkg/$file" "$dest/$folder/"
    base="$(basename "$file")"
    listed+=("\`$folder/$base\`")
  done
  for lic in "${LICENCE_FILES[@]}"; do
    if [ -f "$pkg/$lic" ]; then
      cp "$pkg/$lic" "$dest/$folder/"
      listed+=("\`$folder/$lic\`")
    fi
  done
  [ -f "$dest/$folder/LICENSE" ] || { echo "$name ships no LICENSE file: vendor it by hand." >&2; exit 1; }
  joined="$(printf '%s, ' "${listed[@]}")"
  echo "| $name | $version | $licence | ${joined%, } |" >>"$versions"
done
(cd "$dest" && find . -type f ! -name SHA256SUMS ! -name VERSIONS.md | sed 's|^\./||' | LC_ALL=C sort |
  xargs sha256sum >SHA256SUMS)
echo "Vendored into ${dest#"$root"/}:"
sed -n '/^| [a-z]/p' "$versions" | tail -n +2
