package model

import "testing"

func TestParseLocality(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Locality
		bad  bool
	}{
		{in: "us-east", want: Locality{Region: "us-east"}},
		{in: "us-east/a", want: Locality{Region: "us-east", Zone: "a"}},
		{in: "us-east/a/rack1", want: Locality{Region: "us-east", Zone: "a", Subzone: "rack1"}},
		{in: "", bad: true},
		{in: "/a", bad: true},
		{in: "r//s", bad: true},
		{in: "r/z/", bad: true},
		{in: "r/z/s/x", bad: true},
	} {
		got, err := ParseLocality(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseLocality(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want || got.String() != tc.in {
			t.Errorf("ParseLocality(%q) = %+v, %v; want %+v (and String back to the input)", tc.in, got, err, tc.want)
		}
	}
}
