# Script mode helper for mcip_embed_file: writes a C array holding INPUT's bytes plus a NUL.
file(READ ${INPUT} hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" body "${body}")
file(WRITE ${OUTPUT}.tmp "/* Generated from ${INPUT}; do not edit. */\nconst unsigned char ${SYMBOL}[] = {\n${body}0x00};\nconst unsigned long ${SYMBOL}_size = ${size}UL;\n")
file(RENAME ${OUTPUT}.tmp ${OUTPUT})
