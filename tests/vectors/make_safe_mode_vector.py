#!/usr/bin/env python3
"""Makes the safe-mode test vector of tests/unit/test_events.cpp with an implementation
independent of mega's: python3-cryptography (Debian), following WeChat's published scheme
(AES-256-CBC, key = b64decode(EncodingAESKey + "="), IV = key[:16], PKCS#7 to 32 bytes,
plaintext = random(16) + len(4, big endian) + xml + appid). Prints the C++ constants."""
import base64, hashlib, struct
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx5823bf96d3bd56c7"
TOKEN = "QDG6eK"
XML = ("<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>"
       "<FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>"
       "<CreateTime>1395658920</CreateTime><MsgType><![CDATA[event]]></MsgType>"
       "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>200163836</MsgID>"
       "<Status><![CDATA[failed:user block]]></Status></xml>")
RANDOM16 = b"0123456789abcdef"  # fixed, so that the vector is reproducible


def encrypt(xml, appid, key_text, random16):
    key = base64.b64decode(key_text + "=")
    plain = random16 + struct.pack(">I", len(xml.encode())) + xml.encode() + appid.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


if __name__ == "__main__":
    text = encrypt(XML, APPID, AES_KEY, RANDOM16)
    sig = hashlib.sha1("".join(sorted([TOKEN, "1409304348", "xxxxxx", text])).encode()).hexdigest()
    print(f'constexpr const char* kVectorEncrypt = "{text}";')
    print(f'constexpr const char* kVectorMsgSignature = "{sig}";')
