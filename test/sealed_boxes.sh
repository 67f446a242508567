#!/bin/bash
# Print the sealed boxes test/sql/sealed.sql pastes, as psql \set lines:
# probes sealed with tools/biocrypt-seal to the public key of the fixed
# root key of test/regress.conf.  Boxes are random (a fresh ephemeral key
# each time) but any run's boxes give the same results.
#   test/sealed_boxes.sh [path/to/biocrypt-seal]
set -euo pipefail
SEAL=${1:-$(dirname "$0")/../tools/biocrypt-seal}
# SELECT encode(biocrypt.public_key(), 'hex') under test/regress.conf's key
PK=2270ce3116074203e1a7f0dd895400f3d578398749bc113a13ead2228fed0a71
# a key of no server: sha256("another server")
OTHER=$(printf 'another server' | sha256sum | cut -c1-64)

box() { "$SEAL" --key "$PK" "$@"; }
# name, then the message in hex (sealed as it is)
raw() {
	local b
	b=$(printf '%s' "$2" | box --raw)
	printf '\\set %s %s\n' "$1" "'$b'"
}

printf '\\set v3 %s\n' "'$(echo '[3,1,2.5]' | box)'"
printf '\\set v3b %s\n' "'$(echo '1 2 3' | box)'"
printf '\\set v17 %s\n' "'$(echo '0.1 -0.5 1e-3 3.4028235e38 -0 1.5 2 3 4 5 6 7 8 9 10 11 -12.25' | box)'"
printf '\\set v2 %s\n' "'$(echo '1,2' | box)'"
printf '\\set code %s\n' "'$(echo 'f0f0f0f0f0f0f0f00f0f0f0f0f0f0f0f' | box --bits)'"
printf '\\set codemask %s\n' "'$(echo 'f0f0f0f0f0f0f0f00f0f0f0f0f0f0f0f' | box --bits --mask ffffffffffffffffffffffffffff0000)'"
printf '\\set wrongkey %s\n' "'$(echo '1,2' | "$SEAL" --key "$OTHER")'"
# header: "BCS1" kind flags 0000 count (LE); 1.0 = 0000803f, 2.0 = 00000040
ONE_TWO=0000803f00000040
raw good2 424353310100000002000000$ONE_TWO
raw badmagic 424353320100000002000000$ONE_TWO
raw badkind 424353310300000002000000$ONE_TWO
raw vecflag 424353310101000002000000$ONE_TWO
raw bitsflag 424353310202000001000000ff
raw reserved 424353310100000102000000$ONE_TWO
raw badlength 424353310100000003000000$ONE_TWO
raw count0 424353310100000000000000$ONE_TWO
raw toolarge 4243533101000000813e0000$ONE_TWO
raw nan 4243533101000000020000000000c07f00000040
raw bitslength 424353310201000002000000ff00ff
