package metrics

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Sample is one line of the text exposition format.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Key renders the sample's series as name{k="v",...} with labels sorted.
func (s Sample) Key() string { return SeriesKey(s.Name, s.Labels) }

// SeriesKey renders a series identity as name{k="v",...}, labels sorted.
func SeriesKey(name string, labels map[string]string) string {
	if len(labels) == 0 {
		return name
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, labels[k])
	}
	b.WriteByte('}')
	return b.String()
}

// Exposition is a parsed text exposition.
type Exposition struct {
	Help    map[string]string // metric family -> help
	Type    map[string]string // metric family -> type
	Samples []Sample
}

// Value returns the value of the series name{labels} and whether it exists.
func (e *Exposition) Value(name string, labels map[string]string) (float64, bool) {
	key := SeriesKey(name, labels)
	for _, s := range e.Samples {
		if s.Key() == key {
			return s.Value, true
		}
	}
	return 0, false
}

// Parse reads the text exposition format as written by Registry.WriteTo
// (a strict subset: no timestamps, no exemplars). Every sample must belong
// to a family with a TYPE line.
func Parse(r io.Reader) (*Exposition, error) {
	e := &Exposition{Help: map[string]string{}, Type: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			f := strings.SplitN(line, " ", 4)
			if len(f) >= 3 && (f[1] == "HELP" || f[1] == "TYPE") {
				rest := ""
				if len(f) == 4 {
					rest = f[3]
				}
				if f[1] == "HELP" {
					e.Help[f[2]] = rest
				} else {
					e.Type[f[2]] = rest
				}
			}
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v: %q", lineNo, err, line)
		}
		if _, ok := e.Type[family(s.Name, e.Type)]; !ok {
			return nil, fmt.Errorf("line %d: sample %s has no TYPE line", lineNo, s.Name)
		}
		e.Samples = append(e.Samples, s)
	}
	return e, sc.Err()
}

// family maps a histogram series name (_bucket, _sum, _count) to its family.
func family(name string, types map[string]string) string {
	if _, ok := types[name]; ok {
		return name
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base := strings.TrimSuffix(name, suf); base != name {
			if types[base] == "histogram" || types[base] == "summary" {
				return base
			}
		}
	}
	return name
}

func parseSample(line string) (Sample, error) {
	s := Sample{Labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return s, fmt.Errorf("no metric name")
	}
	s.Name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, ", ")
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.IndexByte(rest, '=')
			if eq <= 0 || len(rest) < eq+2 || rest[eq+1] != '"' {
				return s, fmt.Errorf("bad label")
			}
			name := rest[:eq]
			rest = rest[eq+2:]
			var val strings.Builder
			closed := false
			for j := 0; j < len(rest); j++ {
				c := rest[j]
				if c == '\\' && j+1 < len(rest) {
					j++
					switch rest[j] {
					case 'n':
						val.WriteByte('\n')
					default:
						val.WriteByte(rest[j])
					}
					continue
				}
				if c == '"' {
					rest = rest[j+1:]
					closed = true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return s, fmt.Errorf("unterminated label value")
			}
			s.Labels[name] = val.String()
		}
	}
	f := strings.Fields(rest)
	if len(f) != 1 {
		return s, fmt.Errorf("want exactly one value")
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, err
	}
	s.Value = v
	return s, nil
}
