#!/usr/bin/python3
"""PIL's pixels of the JPEG files listed in LIST (one path a line), as torchvision's ImageFolder loader gives them
(Image.open(f).convert('RGB')), concatenated into OUT (uint8, row-major HWC). Used by bench/decodeVsPil.ts.

/usr/bin/python3 bench/decode_pil.py LIST OUT
"""
import sys
import time

from PIL import Image

files = [l.strip() for l in open(sys.argv[1]) if l.strip()]
t0 = time.perf_counter()
with open(sys.argv[2], 'wb') as out:
    for f in files:
        with Image.open(f) as im:
            out.write(im.convert('RGB').tobytes())
print(f'PIL decoded {len(files)} files in {time.perf_counter() - t0:.3f} s', file=sys.stderr)
