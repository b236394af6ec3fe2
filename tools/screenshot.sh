#!/usr/bin/env bash
# Screenshots of the real app under Xvfb: start it, type a prompt like a user (xdotool), wait for
# the reply to stream in, and capture the screen (ImageMagick's import).
#   tools/screenshot.sh BUILD_DIR OUT.png ["prompt"] [seconds to wait]
# Needs: apt-get install xvfb xdotool imagemagick
set -euo pipefail
build=${1:?build dir}
out=${2:?output png}
prompt=${3:-Tell me a story about a cat.}
wait_s=${4:-6}
display=:97
Xvfb $display -screen 0 1280x800x24 -nolisten tcp &
xvfb=$!
trap 'kill $app $xvfb 2>/dev/null || true' EXIT
sleep 1
export DISPLAY=$display
unset QT_QPA_PLATFORM
home=$(mktemp -d)
XDG_CONFIG_HOME=$home/config XDG_DATA_HOME=$home/data "$build/app/latentchat" &
app=$!
sleep 3
win=$(xdotool search --sync --name "LatentChat" | head -1)
xdotool windowmove "$win" 0 0 || true
sleep 1
# No window manager under Xvfb: give the window the keyboard and click into the message box.
xdotool windowfocus "$win" 2>/dev/null || true
xdotool mousemove 240 620 click 1
xdotool type --delay 20 "$prompt"
xdotool key Return
sleep "$wait_s"
import -window root "$out"
echo "wrote $out"
