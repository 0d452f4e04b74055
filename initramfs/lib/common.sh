# Shell functions of the classroom image's /init (sourced; busybox sh).

# log: one line to the console and the system log.
log() {
	echo "duet: $*" > /dev/console
	logger -t duet -- "$*" 2>/dev/null
}

# screen HEADLINE ADVICE DETAILS: tell whoever sits at the PC, on the
# screen, in plain words; the details line is for the administrator.
screen() {
	log "$1 $2 $3"
	for tty in /dev/tty1; do
		[ -c $tty ] || continue
		{
			printf '\033c\n\n'
			printf '   duet\n\n'
			printf '   %s\n\n' "$1"
			printf '   %s\n\n\n' "$2"
			printf '   %s\n' "$3"
		} > $tty 2>/dev/null
	done
}

# stop: a problem waiting cannot fix. Say so and stay.
stop() {
	screen "$@"
	while :; do sleep 3600; done
}

# debug_shell TTY: a root shell on TTY (duet.shell=ttyS1), started again
# whenever it ends, from early in /init on.
debug_shell() {
	[ -c "/dev/$1" ] || return 0
	(while :; do setsid sh -c "exec sh -i <>/dev/$1 >&0 2>&1"; sleep 1; done) &
}

# fetch BASE RELPATH DEST: one file from the server over TFTP or HTTP.
fetch() {
	case "$1" in
	tftp://*)
		rest=${1#tftp://}
		hostport=${rest%%/*}
		prefix=${rest#"$hostport"}
		prefix=${prefix#/}
		host=${hostport%:*}
		port=69
		[ "$hostport" != "$host" ] && port=${hostport##*:}
		tftp -b 1468 -g -r "${prefix:+$prefix/}$2" -l "$3" "$host" "$port" 2>/tmp/fetch.err
		;;
	http://*)
		# (busybox 1.35's wget -T crashes; timeout bounds it instead)
		timeout 120 wget -q -O "$3" "$1/$2" 2>/tmp/fetch.err
		;;
	*)
		return 1
		;;
	esac
}

# manifest_hash RELPATH: the sha256 SHA256SUMS gives for RELPATH.
manifest_hash() {
	awk -v p="$1" '$2 == p || $2 == "*" p { print $1; exit }' /run/duet/SHA256SUMS
}

# fetch_checked BASE RELPATH DEST: fetch, then compare with the manifest.
# Prints why it failed on stdout.
fetch_checked() {
	want=$(manifest_hash "$2")
	if [ -z "$want" ]; then
		echo "$2 is not in the server's SHA256SUMS"
		return 1
	fi
	mkdir -p "$(dirname "$3")"
	if ! fetch "$1" "$2" "$3.part"; then
		rm -f "$3.part"
		echo "cannot fetch $2: $(tail -n 1 /tmp/fetch.err)"
		return 1
	fi
	got=$(sha256sum "$3.part" | cut -d' ' -f1)
	if [ "$got" != "$want" ]; then
		rm -f "$3.part"
		echo "$2 is damaged (sha256 $got, the manifest says $want)"
		return 1
	fi
	mv "$3.part" "$3"
}

# parse_client FILE: the KEY=VALUE lines of client.conf into
# /run/duet/client.env, keeping only known keys and safe values.
parse_client() {
	: > /run/duet/client.env.part
	lineno=0
	while IFS= read -r line || [ -n "$line" ]; do
		lineno=$((lineno + 1))
		case "$line" in ''|'#'*) continue ;; esac
		key=${line%%=*}
		val=${line#*=}
		val=${val#\"}
		val=${val%\"}
		case "$key" in
		GUESTS|FILES|SCREEN|SYSLOG|NET_*|COLOR_*) ;;
		*) echo "client.conf line $lineno: unknown key '$key'"; return 1 ;;
		esac
		case "$val" in
		*[!A-Za-z0-9_.:/\ #-]*) echo "client.conf line $lineno: '$val' has characters not allowed"; return 1 ;;
		*..*) echo "client.conf line $lineno: '$val' must not contain '..'"; return 1 ;;
		esac
		echo "$key=\"$val\"" >> /run/duet/client.env.part
	done < "$1"
	mv /run/duet/client.env.part /run/duet/client.env
}

# client_key KEY: a value from client.conf (after parse_client).
client_key() {
	sed -n "s/^$1=\"\\(.*\\)\"\$/\\1/p" /run/duet/client.env
}

# fetch_config BASE ID: SHA256SUMS, then config/ID/ (or config/default/)
# into /run/duet/config, then the FILES client.conf names into
# /run/duet/files. Retries until everything is there and checked.
fetch_config() {
	tries=0
	while :; do
		why=$(fetch_config_once "$1" "$2") && return 0
		tries=$((tries + 1))
		screen "This PC cannot get its settings from the school server." \
		       "Check that the server is on. Trying again ($tries)..." \
		       "(details: $why; from $1)"
		sleep 5
	done
}

fetch_config_once() {
	rm -rf /run/duet/config /run/duet/files
	mkdir -p /run/duet/config /run/duet/files
	fetch "$1" SHA256SUMS /run/duet/SHA256SUMS ||
		{ echo "cannot fetch SHA256SUMS: $(tail -n 1 /tmp/fetch.err)"; return 1; }
	dir=config/$2
	[ -n "$(manifest_hash "$dir/client.conf")" ] || dir=config/default
	[ -n "$(manifest_hash "$dir/client.conf")" ] || { echo "the server has no config for $2 and no default"; return 1; }
	for rel in $(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /run/duet/SHA256SUMS); do
		fetch_checked "$1" "$rel" "/run/duet/config/${rel#"$dir"/}" || return 1
	done
	parse_client /run/duet/config/client.conf || return 1
	. /run/duet/client.env
	[ -n "$GUESTS" ] || { echo "client.conf names no GUESTS"; return 1; }
	for rel in $FILES; do
		fetch_checked "$1" "$rel" "/run/duet/files/$rel" || return 1
	done
	log "config: $dir (guests: $GUESTS)"
}

# guest_mac NAME: a stable, locally administered MAC for this PC's guest.
guest_mac() {
	printf '%s %s' "$MAC" "$1" | sha256sum |
		sed 's/^\(..\)\(..\)\(..\)\(..\)\(..\).*/02:\1:\2:\3:\4:\5/'
}

# make_service NAME SCRIPT ARGS...: a runit service running SCRIPT ARGS,
# its output kept by svlogd (bounded, in RAM; to syslog too when set).
make_service() {
	name=$1
	shift
	mkdir -p "/etc/service/$name/log" "/run/log/$name"
	printf '#!/bin/sh\nexec 2>&1\nexec %s\n' "$*" > "/etc/service/$name/run"
	printf '#!/bin/sh\nsleep 1\n' > "/etc/service/$name/finish"
	printf '#!/bin/sh\nexec svlogd -tt /run/log/%s\n' "$name" > "/etc/service/$name/log/run"
	printf 's200000\nn2\n' > "/run/log/$name/config"
	[ -n "$SYSLOG" ] && printf 'u%s\np%s: \n' "$SYSLOG" "$name" >> "/run/log/$name/config"
	chmod +x "/etc/service/$name/run" "/etc/service/$name/finish" "/etc/service/$name/log/run"
}
