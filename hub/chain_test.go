package hub_test

import (
	"reflect"
	"testing"

	"github.com/attesta/attesta/hub"
)

func TestAdvance(t *testing.T) {
	type r = hub.Range
	cases := []struct {
		name    string
		through uint64
		gaps    []r
		seq     uint64
		want    uint64
		wantG   []r
	}{
		{"next in order", 4, nil, 5, 5, nil},
		{"jump opens a gap", 4, nil, 8, 8, []r{{5, 7}}},
		{"fills the start", 8, []r{{5, 7}}, 5, 8, []r{{6, 7}}},
		{"fills the end", 8, []r{{5, 7}}, 7, 8, []r{{5, 6}}},
		{"splits", 8, []r{{5, 7}}, 6, 8, []r{{5, 5}, {7, 7}}},
		{"closes", 8, []r{{5, 5}}, 5, 8, []r{}},
		{"duplicate leaves gaps", 8, []r{{5, 5}}, 3, 8, []r{{5, 5}}},
		{"first record", 0, nil, 1, 1, nil},
	}
	for _, c := range cases {
		got, gotG := hub.Advance(c.through, c.gaps, c.seq)
		if got != c.want || (len(gotG) != 0 || len(c.wantG) != 0) && !reflect.DeepEqual(gotG, c.wantG) {
			t.Errorf("%s: got %d %v, want %d %v", c.name, got, gotG, c.want, c.wantG)
		}
	}
	if n := hub.Missing([]r{{5, 7}, {9, 9}}); n != 4 {
		t.Errorf("missing = %d", n)
	}
}
