extends RefCounted
## WebSocket frames (RFC 6455 §5.2) for the scripted peers of the tests: one encoder and one
## decoder, for either direction.
##
## Not a class_name on purpose: load it with preload("res://lib/ws_frames.gd").


## One frame: unmasked (as a server sends it) unless `mask` (as a client must; the key is
## 01 02 03 04). `rsv` is the three RSV bits, RSV1 the highest.
static func encode(opcode: int, payload: PackedByteArray, fin := true, rsv := 0, mask := false) -> PackedByteArray:
	var out := PackedByteArray()
	out.append((0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF))
	var m := 0x80 if mask else 0
	var n := payload.size()
	if n < 126:
		out.append(m | n)
	elif n < 65536:
		out.append(m | 126)
		out.append(n >> 8)
		out.append(n & 0xFF)
	else:
		out.append(m | 127)
		for i in range(7, -1, -1):
			out.append((n >> (8 * i)) & 0xFF)
	if mask:
		var key := PackedByteArray([1, 2, 3, 4])
		out.append_array(key)
		var masked := payload.duplicate()
		for i in masked.size():
			masked[i] = masked[i] ^ key[i % 4]
		out.append_array(masked)
	else:
		out.append_array(payload)
	return out


## The complete frames in `b`: [[fin, rsv1, opcode, payload (unmasked), masked], ...]; stops at
## the first incomplete frame.
static func decode(b: PackedByteArray) -> Array:
	return read(b, 0)[0]


## The complete frames in `b` from byte `start` on (as decode()), and where they end:
## [frames, end]. Reading again from `end` once more bytes arrived goes on where it stopped.
static func read(b: PackedByteArray, start: int) -> Array:
	var out := []
	var i := start
	while i + 2 <= b.size():
		var fin := (b[i] & 0x80) != 0
		var rsv1 := (b[i] & 0x40) != 0
		var opcode := b[i] & 0xF
		var masked := (b[i + 1] & 0x80) != 0
		var n := b[i + 1] & 0x7F
		var p := i + 2
		if n == 126:
			if p + 2 > b.size():
				break
			n = (b[p] << 8) | b[p + 1]
			p += 2
		elif n == 127:
			if p + 8 > b.size():
				break
			n = 0
			for k in 8:
				n = (n << 8) | b[p + k]
			p += 8
		var key := PackedByteArray([0, 0, 0, 0])
		if masked:
			if p + 4 > b.size():
				break
			key = b.slice(p, p + 4)
			p += 4
		if p + n > b.size():
			break
		var payload := b.slice(p, p + n)
		if masked:
			for k in payload.size():
				payload[k] = payload[k] ^ key[k % 4]
		out.append([fin, rsv1, opcode, payload, masked])
		i = p + n
	return [out, i]
