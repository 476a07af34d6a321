package bench

import (
	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/seal"
)

func sealOpen(k *hub.Keys, b []byte) ([]byte, error) { return seal.Open(&k.SealPub, &k.SealPriv, b) }
