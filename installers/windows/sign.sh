#!/usr/bin/env bash
# sign.sh FILE... signs Windows files (exe, ps1) in place with Authenticode.
#
# With ATTESTA_SIGN_CERT and ATTESTA_SIGN_KEY (PEM; ATTESTA_SIGN_PASS if the
# key is encrypted; ATTESTA_SIGN_TIMESTAMP, an RFC 3161 URL, so the
# signature outlives the certificate) it signs with the real certificate.
# Without them it makes a throwaway test CA and code-signing certificate in
# $BUILD/sign (once) and signs with that: good for checking the signing
# path (osslsigncode verify -CAfile $BUILD/sign/test-ca.pem), trusted by no
# Windows machine.
set -euo pipefail
work=${BUILD:-build}/sign

if [[ -n ${ATTESTA_SIGN_CERT:-} || -n ${ATTESTA_SIGN_KEY:-} ]]; then
	cert=${ATTESTA_SIGN_CERT:?ATTESTA_SIGN_KEY is set without ATTESTA_SIGN_CERT}
	key=${ATTESTA_SIGN_KEY:?ATTESTA_SIGN_CERT is set without ATTESTA_SIGN_KEY}
else
	cert=$work/test-signing.pem
	key=$work/test-signing.key
	if [[ ! -s $cert ]]; then
		mkdir -p "$work"
		openssl req -x509 -newkey rsa:3072 -nodes -keyout "$work/test-ca.key" -out "$work/test-ca.pem" \
			-days 3650 -subj "/O=Attesta/CN=Attesta TEST code signing CA (not trusted)" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
		openssl req -newkey rsa:3072 -nodes -keyout "$key" -out "$work/test-signing.csr" \
			-subj "/O=Attesta/CN=Attesta TEST code signing" 2>/dev/null
		printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
			"extendedKeyUsage=codeSigning" "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$work/leaf.ext"
		openssl x509 -req -in "$work/test-signing.csr" -CA "$work/test-ca.pem" -CAkey "$work/test-ca.key" \
			-set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 -extfile "$work/leaf.ext" -out "$cert" 2>/dev/null
		echo "  test CA for signing: $work/test-ca.pem (not trusted anywhere)"
	fi
fi

args=(-certs "$cert" -key "$key" -h sha256 -n "Attesta collector" -i "https://github.com/attesta/attesta")
if [[ -n ${ATTESTA_SIGN_PASS:-} ]]; then
	# From a private file rather than the command line, where other users could read it.
	passfile=$(mktemp)
	trap 'rm -f "$passfile"' EXIT
	printf %s "$ATTESTA_SIGN_PASS" >"$passfile"
	args+=(-readpass "$passfile")
fi
[[ -z ${ATTESTA_SIGN_TIMESTAMP:-} ]] || args+=(-ts "$ATTESTA_SIGN_TIMESTAMP")
for f in "$@"; do
	osslsigncode sign "${args[@]}" -in "$f" -out "$f.signed" >/dev/null
	mv "$f.signed" "$f"
	echo "  signed $(basename "$f")"
done
