package serviceaccount

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/berth/berth/internal/storage"
)

// SigningKeyStorageKey is where the cluster's signing key is stored, outside the
// resource space.
const SigningKeyStorageKey = "/registry/berth.dev/serviceaccount-signing-key"

// EnsureKey returns the cluster's signing key, creating it when the store has none.
// Servers racing to create it all end up with the one that was stored first.
func EnsureKey(ctx context.Context, store storage.Interface) (*ecdsa.PrivateKey, error) {
	kv, err := store.Get(ctx, SigningKeyStorageKey)
	if err == nil {
		return parseKey(kv.Value)
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("read service account signing key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	_, err = store.Create(ctx, SigningKeyStorageKey, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	if errors.Is(err, storage.ErrKeyExists) {
		if kv, err = store.Get(ctx, SigningKeyStorageKey); err != nil {
			return nil, fmt.Errorf("read service account signing key: %w", err)
		}
		return parseKey(kv.Value)
	}
	if err != nil {
		return nil, fmt.Errorf("store service account signing key: %w", err)
	}
	return key, nil
}

func parseKey(data []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "EC PRIVATE KEY" {
		return nil, fmt.Errorf("stored service account signing key at %s is not a PEM EC private key", SigningKeyStorageKey)
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("stored service account signing key: %w", err)
	}
	return key, nil
}
