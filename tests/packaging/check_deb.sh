#!/usr/bin/env bash
# Builds the .deb with CPack from a configured, built tree, unpacks it into a temp root and checks that
# the installed layout works: both programs run from usr/bin, the CLI runs a job, the GUI loads its
# plugins from the installed plugin folder, and the desktop entry and icon are in place.
set -euo pipefail
BUILD=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# The installed app keeps its settings (recent files, preferences) here, not in the user's own.
export XDG_CONFIG_HOME="$TMP/config"
(cd "$BUILD" && cpack -G DEB -B "$TMP/pkg" > "$TMP/cpack.log" 2>&1) || { cat "$TMP/cpack.log"; exit 1; }
DEB=$(ls "$TMP"/pkg/*.deb)
echo "package: $(basename "$DEB") ($(du -h "$DEB" | cut -f1))"
dpkg-deb --info "$DEB" | grep -E "Package|Version|Depends" | head -5
dpkg-deb -x "$DEB" "$TMP/root"
R="$TMP/root/usr"
for f in bin/atomscope bin/atomscope-cli share/applications/atomscope.desktop \
         share/icons/hicolor/scalable/apps/atomscope.svg; do
  [ -e "$R/$f" ] || { echo "missing in package: /usr/$f"; exit 1; }
done
ls "$R"/lib*/ -R | grep -q "structures.so" || { echo "missing in package: the Structures plugin"; exit 1; }
grep -q "^Exec=atomscope" "$R/share/applications/atomscope.desktop"
# The installed CLI runs a job (libraries found through the install RPATH, not the build tree).
LD_LIBRARY_PATH= "$R/bin/atomscope-cli" --project "$TMP/runs" run core.gemm_benchmark \
  --param size=32 --param iterations=2 --device cpu --quiet > "$TMP/cli.out" 2>&1 || { cat "$TMP/cli.out"; exit 1; }
grep -q "completed" "$TMP/cli.out"
if ldd "$R/bin/atomscope-cli" | grep -q "$BUILD"; then echo "installed CLI links the build tree"; exit 1; fi
# The installed GUI starts and opens an installed sample through the Structures plugin, which it
# can only do after loading that plugin from the installed plugin folder (exit 3 otherwise).
SAMPLE=$(ls "$R"/share/atomscope/samples/structures/*.xyz | head -n 1)
ATOMSCOPE_PLUGIN_PATH= "$R/bin/atomscope" --project "$TMP/runs" --screenshot "$TMP/shot.png" "$SAMPLE" \
  > "$TMP/gui.out" 2>&1 || { echo "installed GUI failed"; cat "$TMP/gui.out"; exit 1; }
[ -s "$TMP/shot.png" ] || { echo "no screenshot from the installed app"; cat "$TMP/gui.out"; exit 1; }
echo "ok: installed programs run; $(grep -c . "$TMP/gui.out") lines of GUI log"
