#!/usr/bin/env bash
# Wrap PhotoAtlas.app in a compressed disk image with a link to /Applications (drag to install).
#   installer/macos/make_dmg.sh build/dist/PhotoAtlas.app build/PhotoAtlas-VERSION-macos-ARCH.dmg
# Needs macOS (hdiutil). Unsigned: first launch is right-click > Open (installer/README.md says how to sign).
set -euo pipefail
app="$1"
dmg="$2"
[ -d "$app" ] || { echo "no app bundle at $app (run installer/build.py first)" >&2; exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -R "$app" "$stage/"
ln -s /Applications "$stage/Applications"
rm -f "$dmg"
hdiutil create -volname "PhotoAtlas" -srcfolder "$stage" -fs HFS+ -format UDZO -imagekey zlib-level=9 "$dmg"
echo "wrote $dmg"
