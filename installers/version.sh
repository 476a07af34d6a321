#!/usr/bin/env bash
# version.sh prints the release version of the git checkout it runs in, in
# a shape Debian sorts correctly and file names can carry:
#   on tag v1.2.0                  1.2.0
#   3 commits after it             1.2.0+3.gabc1234
#   uncommitted changes            …+dirty / ….dirty
#   no vX.Y.Z tag yet              0.0.0+git.<commit>
set -euo pipefail

if d=$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null); then
	d=${d#v}
	d=${d/-/+}
	echo "${d//-/.}"
	exit 0
fi
d="0.0.0+git.$(git rev-parse --short=12 HEAD)"
git diff --quiet HEAD 2>/dev/null || d+=.dirty
echo "$d"
