package wire

import "github.com/attesta/attesta/shared/catalog"

// EnrollPath is where a collector spends its one-time code (HTTP POST, JSON).
const EnrollPath = "/v1/enroll"

// SyncPath is the websocket endpoint.
const SyncPath = "/v1/sync"

// EnrollRequest registers a device key with a one-time code.
type EnrollRequest struct {
	Code       string `json:"code"`
	SignKey    string `json:"sign_key"` // base64 Ed25519 public key
	AppVersion string `json:"app_version"`
	Host       string `json:"host,omitempty"`
}

// EnrollResponse gives the device its identity, the hub's keys and the
// current configuration.
type EnrollResponse struct {
	CollectorID string          `json:"collector_id"`
	Name        string          `json:"name"`
	Touchpoint  string          `json:"touchpoint"`
	Token       string          `json:"token"`
	HubSealKey  string          `json:"hub_seal_key"` // base64 X25519
	HubSignKey  string          `json:"hub_sign_key"` // base64 Ed25519
	Catalog     catalog.Catalog `json:"catalog"`
}
