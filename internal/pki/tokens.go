package pki

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"daisy/internal/durable"
)

// TokensFile is the name of the token store in a pki directory.
const TokensFile = "tokens.json"

// tokenPrefix starts every token, so that one pasted into the wrong place
// is recognised.
const tokenPrefix = "daisy_"

// Token is one bearer token of the HTTP API, as stored: never the token
// itself, only its SHA-256.
type Token struct {
	ID      string    `json:"id"`   // 12 hex digits, also the token's first part
	Name    string    `json:"name"` // who or what it is for
	Hash    string    `json:"sha256"`
	Created time.Time `json:"created"`
}

// Tokens is the token store: a JSON file (mode 0600), changed under an
// flock of the file beside it and replaced atomically. The server will
// keep the tokens in the catalog later; the format of a token stays.
type Tokens struct {
	Path string
}

// ErrBadToken is the error of a token that is not one of the store.
var ErrBadToken = errors.New("invalid or revoked token")

// Create makes a token for name and stores its hash. The token is
// returned once: it is not stored and cannot be shown again.
func (s *Tokens) Create(name string, now time.Time) (string, Token, error) {
	if strings.TrimSpace(name) == "" {
		return "", Token{}, errors.New("a token needs a name saying who or what it is for")
	}
	var id [6]byte
	var secret [32]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", Token{}, err
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return "", Token{}, err
	}
	t := Token{ID: hex.EncodeToString(id[:]), Name: name, Created: now.UTC()}
	token := tokenPrefix + t.ID + "_" + base64.RawURLEncoding.EncodeToString(secret[:])
	sum := sha256.Sum256([]byte(token))
	t.Hash = hex.EncodeToString(sum[:])
	err := s.update(func(list []Token) ([]Token, error) { return append(list, t), nil })
	if err != nil {
		return "", Token{}, err
	}
	return token, t, nil
}

// List returns the stored tokens (without the tokens themselves).
func (s *Tokens) List() ([]Token, error) { return s.read() }

// Revoke removes the token with this ID (or a unique prefix of at least 4
// digits of it).
func (s *Tokens) Revoke(id string) (Token, error) {
	var gone Token
	err := s.update(func(list []Token) ([]Token, error) {
		idx := -1
		for i, t := range list {
			if len(id) >= 4 && strings.HasPrefix(t.ID, id) {
				if idx >= 0 {
					return nil, fmt.Errorf("token ID %s is ambiguous (%s, %s); give more digits", id, list[idx].ID, t.ID)
				}
				idx = i
			}
		}
		if idx < 0 {
			return nil, fmt.Errorf("no token %q in %s (daisy token ls lists them)", id, s.Path)
		}
		gone = list[idx]
		return append(list[:idx:idx], list[idx+1:]...), nil
	})
	return gone, err
}

// Verify returns the stored token that token is, comparing hashes in
// constant time; ErrBadToken when it is none.
func (s *Tokens) Verify(token string) (Token, error) {
	list, err := s.read()
	if err != nil {
		return Token{}, err
	}
	sum := sha256.Sum256([]byte(token))
	var found Token
	ok := 0
	for _, t := range list {
		want, err := hex.DecodeString(t.Hash)
		if err != nil || len(want) != sha256.Size {
			continue
		}
		if subtle.ConstantTimeCompare(sum[:], want) == 1 {
			found, ok = t, 1
		}
	}
	if ok == 0 {
		return Token{}, ErrBadToken
	}
	return found, nil
}

func (s *Tokens) read() ([]Token, error) {
	data, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("token store: %w", err)
	}
	var list []Token
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("token store %s is damaged (%v); restore it, or remove it and make new tokens", s.Path, err)
	}
	return list, nil
}

// update changes the store under its lock and writes it back atomically.
func (s *Tokens) update(change func([]Token) ([]Token, error)) error {
	if err := durable.MkdirAll(filepath.Dir(s.Path), 0o700); err != nil {
		return fmt.Errorf("token store: %w", err)
	}
	lock, err := os.OpenFile(s.Path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("token store: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	list, err := s.read()
	if err != nil {
		return err
	}
	if list, err = change(list); err != nil {
		return err
	}
	if list == nil {
		list = []Token{}
	}
	data, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(s.Path, append(data, '\n'), 0o600, true)
}
