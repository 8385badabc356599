package jobs

import (
	"testing"

	"daisy/internal/volume"
)

func TestVerifyDamageString(t *testing.T) {
	for _, c := range []struct {
		d    VerifyDamage
		want string
	}{
		{VerifyDamage{Volume: "copy1-0002", Blocks: []int64{25}, From: 4645672, To: 4907008, Error: "damaged block: CRC32C 1, header says 2"},
			"volume copy1-0002 block 25: damaged block: CRC32C 1, header says 2 (bytes 4645672..4907008)"},
		{VerifyDamage{Volume: "v", Blocks: []int64{3, 4}, From: 10, To: volume.EndUnknown, Error: "e"},
			"volume v blocks 3, 4: e (bytes 10..end unknown)"},
		{VerifyDamage{Volume: "v", Blocks: []int64{2, 4, 5, 6, 7, 9, 10}, From: 1, To: 2, Error: "hole"},
			"volume v blocks 2, 4..7, 9, 10: hole (bytes 1..2)"},
		{VerifyDamage{Volume: "v", From: 0, To: volume.EndUnknown, Error: "volume file /x is missing"},
			"volume v: volume file /x is missing (bytes 0..end unknown)"},
	} {
		if got := c.d.String(); got != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
		}
		if c.d.ToUnknown() != (c.d.To == volume.EndUnknown) {
			t.Errorf("ToUnknown of %+v", c.d)
		}
	}
	cv := CopyVerify{Damage: []VerifyDamage{{Volume: "a", Blocks: []int64{1}, From: 0, To: 5, Error: "x"}, {Volume: "b", From: 9, To: 12, Error: "y"}}}
	if got, want := cv.Reason(), "verify: volume a block 1: x (bytes 0..5); volume b: y (bytes 9..12)"; got != want {
		t.Errorf("Reason %q, want %q", got, want)
	}
}
