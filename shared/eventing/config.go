package eventing

// The Broker and Triggers of infra/eventing, read from their YAML: the one
// source of the pipeline's wiring, for the HTTP Broker and for the local
// process's Bus.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Destination is a Knative Destination: a Service and an optional path.
type Destination struct {
	Service string
	URI     string
}

// DeliverySpec is a Knative DeliverySpec.
type DeliverySpec struct {
	Retry         int
	BackoffPolicy string // exponential (default) or linear
	BackoffDelay  time.Duration
	Timeout       time.Duration
	DeadLetter    *Destination
}

// TriggerSpec routes events whose attributes match Filter to Subscriber.
type TriggerSpec struct {
	Name       string
	Broker     string
	Filter     map[string]string
	Subscriber Destination
	Delivery   *DeliverySpec // nil: the Broker's
}

// Config is the Broker and its Triggers.
type Config struct {
	Broker   string
	Delivery DeliverySpec
	Triggers []TriggerSpec
}

type destYAML struct {
	Ref *struct {
		Kind string `yaml:"kind"`
		Name string `yaml:"name"`
	} `yaml:"ref"`
	URI string `yaml:"uri"`
}

type deliveryYAML struct {
	Retry          *int      `yaml:"retry"`
	BackoffPolicy  string    `yaml:"backoffPolicy"`
	BackoffDelay   string    `yaml:"backoffDelay"`
	Timeout        string    `yaml:"timeout"`
	DeadLetterSink *destYAML `yaml:"deadLetterSink"`
}

type docYAML struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Broker string `yaml:"broker"`
		Filter *struct {
			Attributes map[string]string `yaml:"attributes"`
		} `yaml:"filter"`
		Subscriber *destYAML     `yaml:"subscriber"`
		Delivery   *deliveryYAML `yaml:"delivery"`
	} `yaml:"spec"`
}

// Load reads every Broker and Trigger in the YAML files under dir.
func Load(dir string) (*Config, error) {
	var c Config
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || (filepath.Ext(p) != ".yaml" && filepath.Ext(p) != ".yml") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return c.parse(p, b)
	})
	if err != nil {
		return nil, err
	}
	if len(c.Triggers) == 0 {
		return nil, fmt.Errorf("no Triggers found under %s", dir)
	}
	return &c, nil
}

// Parse reads the Broker and Triggers of YAML documents, name: contents
// (an embedded copy of infra/eventing), in the order of names.
func Parse(files map[string][]byte) (*Config, error) {
	var c Config
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := c.parse(n, files[n]); err != nil {
			return nil, err
		}
	}
	if len(c.Triggers) == 0 {
		return nil, fmt.Errorf("no Triggers found in %s", strings.Join(names, ", "))
	}
	return &c, nil
}

// parse adds the Broker and Triggers of one file's documents to c.
func (c *Config) parse(p string, b []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc docYAML
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return nil // not a Kubernetes manifest (e.g. a kustomize patch): skip
		}
		switch doc.Kind {
		case "Broker":
			c.Broker = doc.Metadata.Name
			if doc.Spec.Delivery != nil {
				d, err := parseDelivery(doc.Spec.Delivery)
				if err != nil {
					return fmt.Errorf("%s: broker %s: %w", p, doc.Metadata.Name, err)
				}
				c.Delivery = *d
			}
		case "Trigger":
			if doc.Spec.Subscriber == nil || doc.Spec.Subscriber.Ref == nil {
				return fmt.Errorf("%s: trigger %s has no subscriber ref", p, doc.Metadata.Name)
			}
			t := TriggerSpec{Name: doc.Metadata.Name, Broker: doc.Spec.Broker, Filter: map[string]string{},
				Subscriber: Destination{Service: doc.Spec.Subscriber.Ref.Name, URI: doc.Spec.Subscriber.URI}}
			if doc.Spec.Filter != nil {
				t.Filter = doc.Spec.Filter.Attributes
			}
			if doc.Spec.Delivery != nil {
				d, err := parseDelivery(doc.Spec.Delivery)
				if err != nil {
					return fmt.Errorf("%s: trigger %s: %w", p, t.Name, err)
				}
				t.Delivery = d
			}
			c.Triggers = append(c.Triggers, t)
		}
	}
}

func parseDelivery(y *deliveryYAML) (*DeliverySpec, error) {
	d := &DeliverySpec{BackoffPolicy: y.BackoffPolicy, BackoffDelay: 100 * time.Millisecond}
	if y.Retry != nil {
		d.Retry = *y.Retry
	}
	var err error
	if y.BackoffDelay != "" {
		if d.BackoffDelay, err = ISODuration(y.BackoffDelay); err != nil {
			return nil, err
		}
	}
	if y.Timeout != "" {
		if d.Timeout, err = ISODuration(y.Timeout); err != nil {
			return nil, err
		}
	}
	if y.DeadLetterSink != nil && y.DeadLetterSink.Ref != nil {
		d.DeadLetter = &Destination{Service: y.DeadLetterSink.Ref.Name, URI: y.DeadLetterSink.URI}
	}
	return d, nil
}

var isoRe = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// ISODuration parses the ISO 8601 durations Knative uses (PT1S, PT1H, P1DT2H).
func ISODuration(s string) (time.Duration, error) {
	u := strings.ToUpper(s)
	m := isoRe.FindStringSubmatch(u)
	if m == nil || u == "P" || u == "PT" || strings.HasSuffix(u, "T") {
		return 0, fmt.Errorf("duration %q is not ISO 8601 (e.g. PT1S)", s)
	}
	var secs float64
	for i, unit := range []float64{86400, 3600, 60, 1} {
		if m[i+1] == "" {
			continue
		}
		v, err := strconv.ParseFloat(m[i+1], 64)
		if err != nil {
			return 0, err
		}
		secs += v * unit
	}
	if secs > float64(math.MaxInt64/int64(time.Second)) { // beyond ~292 years: no delivery setting means that
		return 0, fmt.Errorf("duration %q is too long", s)
	}
	return time.Duration(secs * float64(time.Second)), nil
}
