package auth

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"

	"github.com/transcept/transcept/shared/lecture"
)

// Password limits, in bytes.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 1024
)

// argon2id parameters of new hashes: OWASP's first recommendation
// (19 MiB, 2 passes, 1 lane), about 20-40 ms a hash on a server core.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Bounds on parameters read back from a stored hash, so a corrupt or
// planted row cannot make one verification take gigabytes or minutes.
const (
	maxArgonMemory  = 1 << 20 // KiB (1 GiB)
	maxArgonTime    = 16
	maxArgonThreads = 64
)

var b64 = base64.RawStdEncoding // PHC strings: standard alphabet, no padding

// CheckPassword returns an EINVALID error when pw is too short or too long
// to be set as a password; nil otherwise.
func CheckPassword(pw string) error {
	if len(pw) < MinPasswordLen {
		return lecture.Errorf(lecture.EINVALID, "password too short: at least %d characters", MinPasswordLen)
	}
	if len(pw) > MaxPasswordLen {
		return lecture.Errorf(lecture.EINVALID, "password too long: at most %d bytes", MaxPasswordLen)
	}
	return nil
}

// HashPassword returns the argon2id hash of pw as a PHC string,
// "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>", with a fresh random
// salt. A password shorter than MinPasswordLen or longer than
// MaxPasswordLen bytes is refused with EINVALID.
func HashPassword(pw string) (string, error) {
	if err := CheckPassword(pw); err != nil {
		return "", err
	}
	return hashPassword(pw), nil
}

func hashPassword(pw string) string {
	salt := randomBytes(argonSaltLen)
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

type phc struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

func parsePHC(s string) (phc, error) {
	var p phc
	bad := func(why string) (phc, error) {
		return phc{}, lecture.Errorf(lecture.EINTERNAL, "stored password hash is not an argon2id PHC string: %s", why)
	}
	if len(s) > 512 {
		return bad("too long")
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("wrong number of fields")
	}
	if parts[1] != "argon2id" {
		return bad("algorithm " + fmt.Sprintf("%q", parts[1]))
	}
	if parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return bad("version")
	}
	var m, t, th uint64
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &th); err != nil || n != 3 ||
		parts[3] != fmt.Sprintf("m=%d,t=%d,p=%d", m, t, th) {
		return bad("parameters")
	}
	if m < 8*th || m > maxArgonMemory || t < 1 || t > maxArgonTime || th < 1 || th > maxArgonThreads {
		return bad("parameters out of range")
	}
	p.memory, p.time, p.threads = uint32(m), uint32(t), uint8(th)
	var err error
	if p.salt, err = b64.Strict().DecodeString(parts[4]); err != nil || len(p.salt) < 8 || len(p.salt) > 64 {
		return bad("salt")
	}
	if p.key, err = b64.Strict().DecodeString(parts[5]); err != nil || len(p.key) < 16 || len(p.key) > 64 {
		return bad("hash")
	}
	return p, nil
}

// VerifyPassword reports whether pw matches the PHC string phc, comparing
// in constant time. A malformed phc is an EINTERNAL error; a password
// longer than MaxPasswordLen bytes never matches.
func VerifyPassword(phc, pw string) (bool, error) {
	p, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	if len(pw) > MaxPasswordLen {
		return false, nil
	}
	key := argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1, nil
}

var dummy struct {
	once sync.Once
	phc  string
}

// VerifyDummy spends the time of one VerifyPassword against a hash nobody
// knows the password of, and always reports false: call it for an unknown
// user (or one without a password) so that the failure takes as long as a
// wrong password, which keeps e-mail addresses from being found by timing.
func VerifyDummy(pw string) bool {
	_, _ = VerifyPassword(dummyPHC(), pw) // the result is thrown away on purpose
	return false
}

// dummyPHC returns the hash VerifyDummy checks against, made on first use.
func dummyPHC() string {
	dummy.once.Do(func() { dummy.phc = hashPassword(randomToken(32)) })
	return dummy.phc
}

// GeneratePassword returns a random password of 22 base64url characters
// (128 bits), for the CLI to print once.
func GeneratePassword() string {
	return randomToken(16)
}
