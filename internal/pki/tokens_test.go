package pki

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	s := &Tokens{Path: filepath.Join(t.TempDir(), "pki", TokensFile)}
	if _, err := s.Verify("daisy_x"); !errors.Is(err, ErrBadToken) {
		t.Fatalf("empty store: %v", err)
	}
	tokA, a, err := s.Create("grafana", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tokB, b, err := s.Create("ops", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tokA, "daisy_"+a.ID+"_") || len(tokA) < 40 || tokA == tokB {
		t.Fatalf("tokens %q %q", tokA, tokB)
	}
	// Only hashes are stored.
	data, _ := os.ReadFile(s.Path)
	if strings.Contains(string(data), tokA[len("daisy_"+a.ID+"_"):]) {
		t.Fatal("the store holds the token's secret")
	}
	if st, _ := os.Stat(s.Path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	if got, err := s.Verify(tokA); err != nil || got.ID != a.ID || got.Name != "grafana" {
		t.Fatalf("Verify(A) = %+v, %v", got, err)
	}
	for _, bad := range []string{"", tokA + "x", tokA[:len(tokA)-1], strings.ToUpper(tokA), "Bearer " + tokA} {
		if _, err := s.Verify(bad); !errors.Is(err, ErrBadToken) {
			t.Fatalf("Verify(%q): %v", bad, err)
		}
	}
	list, err := s.List()
	if err != nil || len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if _, err := s.Revoke("zzzz"); err == nil || !strings.Contains(err.Error(), `no token "zzzz"`) {
		t.Fatalf("revoke unknown: %v", err)
	}
	if got, err := s.Revoke(a.ID[:6]); err != nil || got.ID != a.ID {
		t.Fatalf("Revoke = %+v, %v", got, err)
	}
	if _, err := s.Verify(tokA); !errors.Is(err, ErrBadToken) {
		t.Fatalf("a revoked token verifies: %v", err)
	}
	if _, err := s.Verify(tokB); err != nil {
		t.Fatalf("the other token: %v", err)
	}
	os.WriteFile(s.Path, []byte("{"), 0o600)
	if _, err := s.Verify(tokB); err == nil || !strings.Contains(err.Error(), "is damaged") {
		t.Fatalf("damaged store: %v", err)
	}
}
