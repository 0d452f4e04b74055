#!/bin/sh
# xdmcp-server.sh: a real XDMCP display manager (xdm) for trying the duet
# LTSP guest without an LTSP server, and for the tests. See
# docs/ltsp-guest.md.
#
#   xdmcp-server.sh start ADDRESS DIR [NETNS]
#       write xdm's configuration into DIR and start xdm answering XDMCP
#       queries on ADDRESS, UDP port 177 (inside network namespace NETNS
#       when given). Any host may have a login screen. The login screen's
#       background is blue (#2a6f97); a session (any user xdm's PAM
#       configuration lets in) sets it green (#3c8d2f) and opens an xterm.
#       xdm's log, with a line for every login screen and session, is
#       DIR/xdm.log.
#   xdmcp-server.sh stop DIR
#       stop that xdm and everything it started (login screens, sessions).
#
# xdm is $XDM if set, else the one on PATH (Debian package xdm), else
# the package unpacked by `make ltsp-xdm` (build/ltsp-guest/xdm). Also
# needs x11-xserver-utils (xsetroot, xrdb) and xterm, and root (xdm binds
# port 177 and runs sessions as their users).
set -eu

LOGIN_COLOUR='#2a6f97'
SESSION_COLOUR='#3c8d2f'
HERE=$(cd "$(dirname "$0")" && pwd)
XDM=${XDM:-$(command -v xdm || echo "$HERE/../../build/ltsp-guest/xdm/usr/bin/xdm")}

usage() {
	echo "usage: $0 start ADDRESS DIR [NETNS] | stop DIR" >&2
	exit 2
}

say() { echo "xdmcp-server: $*"; }

# ours DIR: the pid in DIR/xdm.run is still the xdm started from DIR (and
# not another process that got its number since)
ours() {
	pid=$(cat "$1/xdm.run" 2> /dev/null) || return 1
	tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null | grep -q -- "-config $1/xdm-config"
}

# listening PID: xdm's UDP socket on port 177 (0xB1) is open, as seen
# from its own network namespace.
listening() {
	awk 'NR > 1 && $2 ~ /:00B1$/ { found = 1 } END { exit !found }' \
		"/proc/$1/net/udp" "/proc/$1/net/udp6" 2> /dev/null
}

write_config() {
	dir=$1 address=$2
	# the login box is a library beside xdm: /usr/lib/X11/xdm for /usr/bin/xdm
	greeter=$(dirname "$(dirname "$XDM")")/lib/X11/xdm/libXdmGreet.so
	mkdir -p "$dir/auth"
	chmod 700 "$dir/auth"
	cat > "$dir/xdm-config" <<EOF
! written by xdmcp-server.sh: XDMCP on, no local displays
DisplayManager.requestPort:	177
DisplayManager.servers:		$dir/Xservers
DisplayManager.accessFile:	$dir/Xaccess
DisplayManager.authDir:		$dir/auth
DisplayManager.errorLogFile:	$dir/xdm.log
DisplayManager.pidFile:		$dir/xdm.pid
DisplayManager*authorize:	true
DisplayManager*resources:	$dir/Xresources
DisplayManager*xrdb:		/usr/bin/xrdb -nocpp
DisplayManager*setup:		$dir/Xsetup
DisplayManager*session:		$dir/Xsession
DisplayManager*systemPath:	/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
DisplayManager*userPath:	/usr/local/bin:/usr/bin:/bin
DisplayManager*greeterLib:	$greeter
EOF
	# no local X servers: every display comes by XDMCP
	: > "$dir/Xservers"
	cat > "$dir/Xaccess" <<EOF
# written by xdmcp-server.sh: answer on $address only, any host may query
LISTEN $address
*
EOF
	cat > "$dir/Xresources" <<'EOF'
xlogin*greeting: duet test LTSP server
xlogin*background: grey90
EOF
	# Xsetup runs as root before the login box; Xsession as the user.
	# What they print on stderr lands in xdm's log.
	cat > "$dir/Xsetup" <<EOF
#!/bin/sh
xsetroot -solid '$LOGIN_COLOUR'
echo "xdmcp-server: login screen on \$DISPLAY" >&2
EOF
	cat > "$dir/Xsession" <<EOF
#!/bin/sh
xsetroot -solid '$SESSION_COLOUR'
echo "xdmcp-server: session for \$USER on \$DISPLAY" >&2
# from 1024x768 to 1280x800 the xterm is under the pointer, which X puts
# in the middle of the screen: with no window manager, what is typed goes
# to it
exec xterm -geometry 80x24+270+220 -title "duet LTSP session: \$USER on \$DISPLAY"
EOF
	chmod 755 "$dir/Xsetup" "$dir/Xsession"
}

start() {
	[ $# -ge 2 ] && [ $# -le 3 ] || usage
	address=$1 dir=$2 netns=${3:-}
	[ -x "$XDM" ] || { say "no xdm: $XDM not found (install xdm, or make ltsp-xdm)"; exit 1; }
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if ours "$dir"; then
		say "an xdm from $dir is running already (pid $(cat "$dir/xdm.run"))"
		exit 1
	fi
	write_config "$dir" "$address"
	rm -f "$dir/xdm.pid"
	: > "$dir/xdm.log"
	# In a session of its own: away from the caller's terminal.
	if [ -n "$netns" ]; then
		setsid ip netns exec "$netns" "$XDM" -nodaemon -config "$dir/xdm-config" \
			< /dev/null >> "$dir/xdm.log" 2>&1 &
	else
		setsid "$XDM" -nodaemon -config "$dir/xdm-config" \
			< /dev/null >> "$dir/xdm.log" 2>&1 &
	fi
	pid=$!
	echo "$pid" > "$dir/xdm.run"
	tries=100
	until listening "$pid"; do
		if ! kill -0 "$pid" 2> /dev/null || [ $tries = 0 ]; then
			say "xdm did not start; its log ($dir/xdm.log):"
			cat "$dir/xdm.log"
			stop "$dir" > /dev/null
			exit 1
		fi
		tries=$((tries - 1))
		sleep 0.1
	done
	say "xdm (pid $pid) answers XDMCP on $address port 177${netns:+ in network namespace $netns}; log $dir/xdm.log"
}

# descendants PID: PID and every process below it. Field 4 of
# /proc/N/stat is the parent; the name before it (in parentheses) may hold
# spaces, so the fields are counted after its closing parenthesis.
descendants() {
	cat /proc/[0-9]*/stat 2> /dev/null | awk -v root="$1" '
		{ s = $0; sub(/.*\) /, "", s); split(s, f, " "); parent[$1] = f[2] }
		END {
			for (p in parent) {
				q = p
				while ((q in parent) && q != root)
					q = parent[q]
				if (q == root)
					print p
			}
		}'
}

alive() {
	for p in "$@"; do
		kill -0 "$p" 2> /dev/null && echo "$p"
	done
	return 0
}

stop() {
	[ $# = 1 ] || usage
	dir=$(cd "$1" 2> /dev/null && pwd) || { say "no directory $1"; return 1; }
	if ! ours "$dir"; then
		say "no xdm from $dir is running"
		rm -f "$dir/xdm.run"
		return 0
	fi
	pid=$(cat "$dir/xdm.run")
	# xdm ends its login screens and sessions when it gets SIGTERM; the
	# processes below it are noted first, as those it leaves behind are
	# adopted by init and no longer found below it.
	procs=$(descendants "$pid")
	kill -TERM "$pid" 2> /dev/null || true
	tries=50
	while [ -n "$(alive $procs)" ] && [ $tries -gt 0 ]; do
		tries=$((tries - 1))
		sleep 0.1
	done
	left=$(alive $procs)
	if [ -n "$left" ]; then
		say "killing what xdm left behind: $(echo $left)"
		kill -KILL $left 2> /dev/null || true
	fi
	rm -f "$dir/xdm.run"
	say "xdm stopped"
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case "$cmd" in
start) start "$@" ;;
stop) stop "$@" ;;
*) usage ;;
esac
