#!/usr/bin/env bash
# Downloads an official Godot build for this runner from github.com/godotengine/godot-builds,
# checks it against the SHA-512 that godot-builds publishes for it (releases/godot-<v>-stable.json,
# copied below), unpacks it under <dir>/<version>/ and prints the binary to run (GODOT4_BIN).
#
#   bin=$(.github/godot-download.sh 4.3 "$RUNNER_TEMP/godot")   # its own line: `set -e` sees a failure
#   GODOT4_BIN="$bin" GODOT_EXPECTED_VERSION=4.3 cargo xtask package-test
#
# (Not `GODOT4_BIN=$(…) cargo …`: there the download's exit status is lost.)
#
# Linux x86-64 and arm64, macOS (universal), Windows x86-64 (the console build, whose output
# reaches the terminal). A version without a checksum here is refused: add its line first.
set -euo pipefail
version=$1
dir=$2

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) asset=linux.x86_64.zip; binary="Godot_v${version}-stable_linux.x86_64" ;;
  Linux-aarch64) asset=linux.arm64.zip; binary="Godot_v${version}-stable_linux.arm64" ;;
  Darwin-*) asset=macos.universal.zip; binary="Godot.app/Contents/MacOS/Godot" ;;
  MINGW64*|MSYS*|CYGWIN*) asset=win64.exe.zip; binary="Godot_v${version}-stable_win64_console.exe" ;;
  *) echo "godot-download.sh: no official Godot build for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac
file="Godot_v${version}-stable_${asset}"

# SHA-512 of each file, from godotengine/godot-builds releases/godot-<version>-stable.json.
sum=$(awk -v f="$file" '$1 == f { print $2 }' <<'SUMS'
Godot_v4.3-stable_linux.x86_64.zip fd52bb4ba8acc30ca5accd1c566d470ad7282f891ccc0995dfafabcf92bcf76280ce182bf9d80ebd885f3ed2165d01e1fc3f2928436b15498dfbd98656c2a45a
Godot_v4.3-stable_linux.arm64.zip bf559c7d24f2a7c8980d021c9e8c54baa66c5f3a1a0c1fb6fe73586eca63417fd365adf2e6c8be0b5944ab80da800fe4aa3a9024f58363f5dc3962e6127c0dc6
Godot_v4.3-stable_macos.universal.zip 8a556637aa6b83a60473decdb43a448b214f31fd13318b6f7ba2ebc4cca4e40d1f7a933330ce40afa8d72273ef6a6f3a0e3b0f0abf8e1be3fe4f03119cae62c2
Godot_v4.3-stable_win64.exe.zip ad09b7e19949327700dfbe64e35880a2a08091c0751277f5cc21b915e5df9b4fe93fb43c50d6bdfb9d16b46168592491aa698e0d2dbe9f92132e163dd77b97e1
Godot_v4.7-stable_linux.x86_64.zip b639ca9c1ddea39bb3df89bd5283a51ca6047467abe6b25e9436566f2b2082ede633025073989ecf39c7d5d3c2493d80ea13e3af6dd5e261bbf89e462d6d2214
Godot_v4.7-stable_linux.arm64.zip 8ff111327573eb8a91bbf9d1915e467687788d766402b3cdd4bf3da5f1254fc35df18e5e0a406410f3fd8645b13a4b3cac7288ec36f3733b4b0f04dc71d9cd4a
Godot_v4.7-stable_macos.universal.zip 0d5d635e6d78d4c2b1286586ca62af249609c2f70815b35437049f08476714d08b913faaf8c10f37313c932ee24c4f87a829899c84fa248f788fb612b8f79229
Godot_v4.7-stable_win64.exe.zip 41645a908eb3181d6f2d1201ed7b6d6f095f6a23aaed8903d5d255277cc8d142814f3e6817f865b3cac142c39b8aff99280091d3bbdaa301517730b3ba0522b9
SUMS
)
if [ -z "$sum" ]; then
  echo "godot-download.sh: no checksum for $file: add it from godot-builds' releases/godot-${version}-stable.json" >&2
  exit 1
fi

mkdir -p "$dir/$version"
url="https://github.com/godotengine/godot-builds/releases/download/${version}-stable/${file}"
curl -fsSL --retry 3 -o "$dir/$file" "$url"
if command -v sha512sum >/dev/null; then
  got=$(sha512sum "$dir/$file" | cut -d' ' -f1)
else
  got=$(shasum -a 512 "$dir/$file" | cut -d' ' -f1)
fi
if [ "$got" != "$sum" ]; then
  echo "godot-download.sh: $file has SHA-512 $got, godot-builds publishes $sum" >&2
  exit 1
fi
if command -v unzip >/dev/null; then
  unzip -q -o "$dir/$file" -d "$dir/$version"
else
  7z x -y -bso0 "-o$dir/$version" "$dir/$file"
fi
if [ ! -f "$dir/$version/$binary" ]; then
  echo "godot-download.sh: $file has no $binary" >&2
  exit 1
fi
chmod +x "$dir/$version/$binary"
echo "$dir/$version/$binary"
