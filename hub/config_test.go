package hub_test

import (
	"slices"
	"testing"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/catalog"
)

func TestNoticesAt(t *testing.T) {
	v := func(id string, version int, seq int64) hub.NoticeVersion {
		return hub.NoticeVersion{Notice: catalog.Notice{ID: id, Version: version}, Seq: seq}
	}
	vs := []hub.NoticeVersion{v("privacy-en", 1, 1), v("privacy-it", 1, 1), v("privacy-it", 2, 3), v("privacy-it", 3, 5), v("terms-it", 1, 4)}
	for seq, want := range map[int64][]string{
		0: {},
		1: {"privacy-en/1", "privacy-it/1"},
		2: {"privacy-en/1", "privacy-it/1"},
		3: {"privacy-en/1", "privacy-it/2"},
		4: {"privacy-en/1", "privacy-it/2", "terms-it/1"},
		9: {"privacy-en/1", "privacy-it/3", "terms-it/1"},
	} {
		if got := hub.NoticesAt(vs, seq); !slices.Equal(got, want) {
			t.Errorf("seq %d: %v, want %v", seq, got, want)
		}
	}
}
