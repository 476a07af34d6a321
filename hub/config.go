package hub

import (
	"context"
	"strconv"
	"time"

	"github.com/attesta/attesta/shared/catalog"
)

// ConfigStore is how head office changes what collectors run: notices,
// purposes and touchpoints. Each change appends one validated catalog
// snapshot to the config log, in one transaction with a config.changed
// notification; collectors get it at their next sync. Errors name what
// is wrong (an EINVALID *catalog.FieldError names the field).
type ConfigStore interface {
	// Catalog returns the newest snapshot; Seq is its place in the log.
	Catalog(ctx context.Context) (*catalog.Catalog, error)
	// PublishNotice adds a notice version (its SHA-256 is computed).
	PublishNotice(ctx context.Context, n catalog.Notice) (*catalog.Catalog, error)
	// PutPurpose adds a purpose (create) or replaces one.
	PutPurpose(ctx context.Context, p catalog.Purpose, create bool) (*catalog.Catalog, error)
	// PutTouchpoint adds a touchpoint (create) or replaces one.
	PutTouchpoint(ctx context.Context, t catalog.Touchpoint, create bool) (*catalog.Catalog, error)
	// NoticeVersions lists every notice version ever published, by id and version.
	NoticeVersions(ctx context.Context) ([]NoticeVersion, error)
}

// NoticeVersion is one published notice version as head office lists it.
type NoticeVersion struct {
	catalog.Notice
	Active      bool      `json:"active"` // the newest version of its id: what kiosks show
	Seq         int64     `json:"seq"`    // the config log entry that published it
	PublishedAt time.Time `json:"published_at"`
}

// ConfigChange is the data of a config.changed notification: what changed,
// never any personal data.
type ConfigChange struct {
	Seq        int64  `json:"seq"`
	Change     string `json:"change"` // notice.published, purpose.added, purpose.updated, touchpoint.added, touchpoint.updated, catalog.published
	Notice     string `json:"notice,omitempty"`
	Purpose    string `json:"purpose,omitempty"`
	Touchpoint string `json:"touchpoint,omitempty"`
}

// NoticesAt names the notice versions ("id/version") a device on config
// seq shows: for each id, the newest version published at or before seq.
// vs must be sorted by id and version, as NoticeVersions returns them.
func NoticesAt(vs []NoticeVersion, seq int64) []string {
	out := []string{}
	for i, v := range vs {
		if v.Seq > seq {
			continue
		}
		if i+1 < len(vs) && vs[i+1].ID == v.ID && vs[i+1].Seq <= seq {
			continue // a newer version of the same id is also there
		}
		out = append(out, v.ID+"/"+strconv.Itoa(v.Version))
	}
	return out
}
