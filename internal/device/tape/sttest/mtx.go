package sttest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The fake mtx: a POSIX shell script that answers "mtx -f DEVICE status",
// "load SLOT [DRIVE]" and "unload [SLOT] [DRIVE]" as mtx.c does (the same
// lines, messages and exit status), keeping the changer's state in the
// shelf's file mtx.state ("slot N TAG", "drive N SOURCE TAG", "-" for
// empty) and writing driveN, which the fake drives read, on every move.
const mtxScript = `#!/bin/sh
# Fake mtx for daisy's tests (internal/device/tape/sttest).
dir='@DIR@'
state="$dir/mtx.state"
fatal() { echo "$*" >&2; exit 1; }
[ "$1" = "-f" ] && [ -n "$2" ] || fatal "Usage: mtx -f <device> <command>"
dev=$2
shift 2
[ -n "$1" ] || fatal "Usage: mtx -f <device> <command>"
[ -r "$state" ] || fatal "cannot open SCSI device '$dev' - No such file or directory"
slot_tag() { while read -r kind n a b; do [ "$kind" = slot ] && [ "$n" = "$1" ] && { echo "$a"; return; }; done < "$state"; echo "?"; }
drive_line() { while read -r kind n a b; do [ "$kind" = drive ] && [ "$n" = "$1" ] && { echo "$a $b"; return; }; done < "$state"; echo "?"; }
set_state() { # kind n value...
	: > "$state.tmp"
	while read -r kind n a b; do
		if [ "$kind" = "$1" ] && [ "$n" = "$2" ]; then
			echo "$1 $2 $3 $4" >> "$state.tmp"
		else
			echo "$kind $n $a $b" >> "$state.tmp"
		fi
	done < "$state"
	mv "$state.tmp" "$state"
}
while [ -n "$1" ]; do
	cmd=$1
	shift
	case "$cmd" in
	status)
		nd=0
		ns=0
		while read -r kind n a b; do
			case "$kind" in drive) nd=$((nd + 1)) ;; slot) ns=$((ns + 1)) ;; esac
		done < "$state"
		printf '  Storage Changer %s:%d Drives, %d Slots ( 0 Import/Export )\n' "$dev" "$nd" "$ns"
		while read -r kind n src tag; do
			[ "$kind" = drive ] || continue
			if [ "$tag" = - ]; then
				printf 'Data Transfer Element %d:Empty\n' "$n"
			else
				printf 'Data Transfer Element %d:Full (Storage Element %d Loaded):VolumeTag = %-32s\n' "$n" "$src" "$tag"
			fi
		done < "$state"
		while read -r kind n tag rest; do
			[ "$kind" = slot ] || continue
			if [ "$tag" = - ]; then
				printf '      Storage Element %d:Empty\n' "$n"
			else
				printf '      Storage Element %d:Full :VolumeTag=%-32s\n' "$n" "$tag"
			fi
		done < "$state"
		;;
	load)
		s=$1
		case "$s" in ''|*[!0-9]*) fatal "No source specified" ;; esac
		shift
		d=0
		case "$1" in [0-9]*) d=$1; shift ;; esac
		tag=$(slot_tag "$s")
		[ "$tag" = "?" ] && fatal "Invalid <storage-element-number> argument '$s' to 'load' command"
		dl=$(drive_line "$d")
		[ "$dl" = "?" ] && fatal "illegal <drive-number> argument '$d' to 'load' command"
		set -- $dl "$@"
		[ "$2" = - ] || fatal "Drive $d Full (Storage Element $1 loaded)"
		shift 2
		[ "$tag" = - ] && fatal "Source Element Address $s is Empty"
		printf 'Loading media from Storage Element %d into drive %d...' "$s" "$d"
		set_state slot "$s" -
		set_state drive "$d" "$s" "$tag"
		printf '%s\n%s\n' "$tag" "$$.$s.$(date +%s%N)" > "$dir/drive$d"
		echo done
		;;
	unload)
		s=
		case "$1" in [0-9]*) s=$1; shift ;; esac
		d=0
		case "$1" in [0-9]*) d=$1; shift ;; esac
		dl=$(drive_line "$d")
		[ "$dl" = "?" ] && fatal "illegal <drive-number> argument '$d' to 'unload' command"
		set -- $dl "$@"
		src=$1
		tag=$2
		shift 2
		[ "$tag" = - ] && fatal "Data Transfer Element $d is Empty"
		[ -n "$s" ] || s=$src
		[ "$(slot_tag "$s")" = "?" ] && fatal "illegal <storage-element-number> argument '$s' to 'unload' command"
		[ "$(slot_tag "$s")" = - ] || fatal "Storage Element $s is Already Full"
		printf 'Unloading drive %d into Storage Element %d...' "$d" "$s"
		set_state drive "$d" 0 -
		set_state slot "$s" "$tag"
		rm -f "$dir/drive$d"
		echo done
		;;
	*)
		fatal "Usage: mtx -f <device> <command>: unknown command '$cmd'"
		;;
	esac
done
`

// InstallMtx writes the fake mtx script into binDir (put it first in PATH)
// and the changer's state: the cartridges with these barcodes in slots 1,
// 2, ... ("" leaves a slot empty) and drives empty drives, which the
// shelf's device paths /dev/nst0, /dev/nst1, ... are. Cartridges already
// loaded by Insert are not in the changer's inventory.
func (s *Shelf) InstallMtx(binDir string, slots []string, drives int) (string, error) {
	if strings.ContainsAny(s.Dir, "'\n") {
		return "", fmt.Errorf("sttest: shelf directory %q: no quotes or newlines for the fake mtx", s.Dir)
	}
	var st strings.Builder
	for i := range drives {
		fmt.Fprintf(&st, "drive %d 0 -\n", i)
		if err := s.Insert(i, ""); err != nil {
			return "", err
		}
	}
	for i, tag := range slots {
		if tag == "" {
			tag = "-"
		} else if _, err := s.cartPath(tag); err != nil {
			return "", err
		}
		fmt.Fprintf(&st, "slot %d %s\n", i+1, tag)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "mtx.state"), []byte(st.String()), 0o600); err != nil {
		return "", err
	}
	p := filepath.Join(binDir, "mtx")
	script := strings.ReplaceAll(mtxScript, "@DIR@", s.Dir)
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		return "", err
	}
	return p, nil
}
