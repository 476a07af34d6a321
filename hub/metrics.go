package hub

import (
	"context"
	"time"
)

// DeviceSync is what /metrics shows of a device's sync from storage.
type DeviceSync struct {
	ID              string
	LastSeen        time.Time // zero if it never connected
	PendingReported int64     // records it held unacknowledged at its last hello
}

// DeviceSyncStore lists the enrolled, unrevoked devices' sync state.
type DeviceSyncStore interface {
	DeviceSyncs(ctx context.Context) ([]DeviceSync, error)
}
