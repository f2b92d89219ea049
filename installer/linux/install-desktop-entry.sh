#!/bin/sh
# Put PhotoAtlas in the applications menu (for this user): run it from the unpacked PhotoAtlas folder.
#   ./install-desktop-entry.sh            install      ./install-desktop-entry.sh --remove   remove
set -eu
here=$(cd "$(dirname "$0")" && pwd)
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/256x256/apps"
if [ "${1:-}" = "--remove" ]; then
    rm -f "$apps/photoatlas.desktop" "$icons/photoatlas.png"
    echo "removed PhotoAtlas from the applications menu"
    exit 0
fi
mkdir -p "$apps" "$icons"
cp "$here/photoatlas.png" "$icons/photoatlas.png"
# The menu entry runs this folder's executable, wherever it was unpacked.
sed "s|^Exec=photoatlas |Exec=\"$here/photoatlas\" |" "$here/photoatlas.desktop" > "$apps/photoatlas.desktop"
chmod 644 "$apps/photoatlas.desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$apps" || true
echo "PhotoAtlas is in the applications menu (Graphics). Remove it with: $0 --remove"
