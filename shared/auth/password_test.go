package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/lecture"
)

func TestHashPassword(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Count(h, "$") != 5 {
		t.Fatalf("hash %q is not the PHC form", h)
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batterY": false, "": false, "correct horse battery ": false} {
		ok, err := VerifyPassword(h, pw)
		if err != nil || ok != want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
}

func TestPasswordLength(t *testing.T) {
	for _, pw := range []string{"", "1234567", strings.Repeat("x", MaxPasswordLen+1)} {
		_, err := HashPassword(pw)
		if lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(err.Error(), "password too") {
			t.Errorf("HashPassword(len %d) = %v, want EINVALID naming the length", len(pw), err)
		}
	}
	for _, pw := range []string{"12345678", strings.Repeat("x", MaxPasswordLen)} {
		if _, err := HashPassword(pw); err != nil {
			t.Errorf("HashPassword(len %d): %v", len(pw), err)
		}
	}
	h, _ := HashPassword("12345678")
	if ok, err := VerifyPassword(h, "12345678"+strings.Repeat("x", MaxPasswordLen)); ok || err != nil {
		t.Errorf("an over-long password verified: %v, %v", ok, err)
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	good, _ := HashPassword("password1")
	parts := strings.Split(good, "$")
	for _, phc := range []string{
		"",
		"password1",
		"$argon2i$v=19$m=19456,t=2,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=16$m=19456,t=2,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=99999999,t=2,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=19456,t=1000,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=19456,t=2,p=0$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=19456,t=2,p=1,x=3$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=19456,t=2,p=1$" + parts[4] + "=$" + parts[5],
		"$argon2id$v=19$m=19456,t=2,p=1$" + parts[4] + "$",
		"$argon2id$v=19$m=19456,t=2,p=1$$" + parts[5],
		good + "$",
	} {
		ok, err := VerifyPassword(phc, "password1")
		if ok || err == nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want an error", phc, ok, err)
		}
	}
}

// TestVerifyDummyTime: an unknown user costs about what a wrong password
// does (the fastest of five runs each, against scheduling noise).
func TestVerifyDummyTime(t *testing.T) {
	h, _ := HashPassword("password1")
	VerifyDummy("warm up")
	fastest := func(f func()) time.Duration {
		best := time.Hour
		for range 5 {
			start := time.Now()
			f()
			best = min(best, time.Since(start))
		}
		return best
	}
	real := fastest(func() { VerifyPassword(h, "wrong password") })
	dummy := fastest(func() {
		if VerifyDummy("wrong password") {
			t.Fatal("VerifyDummy reported a match")
		}
	})
	if dummy < real/2 || dummy > real*2 {
		t.Errorf("dummy verification %v, real %v: not alike", dummy, real)
	}
}

func TestGeneratePassword(t *testing.T) {
	a, b := GeneratePassword(), GeneratePassword()
	if a == b || len(a) != 22 || CheckPassword(a) != nil {
		t.Fatalf("GeneratePassword: %q, %q", a, b)
	}
}
