package terraform_test

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// plan is the part of `tofu show -json <plan>` the tests read.
type plan struct {
	PlannedValues struct {
		RootModule struct {
			Resources []plannedResource `json:"resources"`
		} `json:"root_module"`
	} `json:"planned_values"`
	ResourceChanges []struct {
		Address string `json:"address"`
		Change  struct {
			Actions      []string       `json:"actions"`
			AfterUnknown map[string]any `json:"after_unknown"`
		} `json:"change"`
	} `json:"resource_changes"`
}

type plannedResource struct {
	Address string         `json:"address"`
	Type    string         `json:"type"`
	Name    string         `json:"name"`
	Values  map[string]any `json:"values"`
}

func (p *plan) resources(typ, name string) []plannedResource {
	var out []plannedResource
	for _, r := range p.PlannedValues.RootModule.Resources {
		if r.Type == typ && (name == "" || r.Name == name) {
			out = append(out, r)
		}
	}
	return out
}

func (p *plan) afterUnknown(address string) map[string]any {
	for _, rc := range p.ResourceChanges {
		if rc.Address == address {
			return rc.Change.AfterUnknown
		}
	}
	return nil
}

// baseVars are the variables every scenario sets: dummy ids, never a real cloud.
func baseVars() map[string]any {
	return map[string]any{
		"site":                "CHI@UC",
		"k3s_token":           strings.Repeat("0123456789abcdef", 4),
		"external_network_id": "ext-net-0000",
		"key_pair":            "test-key",
	}
}

func withVars(extra map[string]any) map[string]any {
	v := baseVars()
	for k, x := range extra {
		v[k] = x
	}
	return v
}

// planScenario plans offline and returns the decoded plan.
func planScenario(t *testing.T, w *workspace, name string, vars map[string]any) *plan {
	t.Helper()
	varFile := w.writeVars(name, vars)
	planFile := filepath.Join(filepath.Dir(w.dir), name+".tfplan")
	w.mustTofu("", "plan", "-input=false", "-lock=false", "-no-color", "-var-file="+varFile, "-out="+planFile)
	out := w.mustTofu("", "show", "-json", planFile)
	var p plan
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("decode plan JSON: %v", err)
	}
	if n := w.probe.conns.Load(); n != 0 {
		t.Fatalf("the plan connected to the (fake) identity endpoint %d times; it must run offline", n)
	}
	return &p
}

func reservationHint(t *testing.T, r plannedResource) string {
	t.Helper()
	hints, _ := r.Values["scheduler_hints"].([]any)
	if len(hints) == 0 {
		return ""
	}
	if len(hints) != 1 {
		t.Fatalf("%s: %d scheduler_hints blocks, want 1", r.Address, len(hints))
	}
	props, _ := hints[0].(map[string]any)["additional_properties"].(map[string]any)
	s, _ := props["reservation"].(string)
	return s
}

type rule struct {
	Protocol string
	From, To int
	Source   string // a CIDR, or "self" for the cluster group
}

func secgroupRules(t *testing.T, p *plan, name string) []rule {
	t.Helper()
	var out []rule
	for _, r := range p.resources("openstack_networking_secgroup_rule_v2", name) {
		v := r.Values
		if v["direction"] != "ingress" || v["ethertype"] != "IPv4" {
			t.Errorf("%s: direction %v ethertype %v", r.Address, v["direction"], v["ethertype"])
		}
		ru := rule{Protocol: v["protocol"].(string)}
		if f, ok := v["port_range_min"].(float64); ok {
			ru.From = int(f)
		}
		if f, ok := v["port_range_max"].(float64); ok {
			ru.To = int(f)
		}
		if cidr, _ := v["remote_ip_prefix"].(string); cidr != "" {
			ru.Source = cidr
		} else if p.afterUnknown(r.Address)["remote_group_id"] == true {
			ru.Source = "self" // the group's own id, known after apply
		} else {
			t.Errorf("%s: neither a CIDR nor a remote group", r.Address)
		}
		out = append(out, ru)
	}
	return out
}

func sha1Hex(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestPlanSplitCluster(t *testing.T) {
	tl := requireTools(t)
	w := newWorkspace(t, tl)
	vars := withVars(map[string]any{
		"gpu_reservation_id": "gpu-res-1111",
		"cpu_reservation_id": "cpu-res-2222",
		"server_count":       1,
		"gpu_node_count":     2,
		"cpu_node_count":     1,
		"ssh_allowed_cidrs":  []string{"203.0.113.0/24"},
	})
	p := planScenario(t, w, "split", vars)

	// Instances per role, with their reservation, image and flavor.
	want := map[string]struct {
		count              int
		reservation, image string
	}{
		"server": {1, "cpu-res-2222", "CC-Ubuntu22.04"},
		"gpu":    {2, "gpu-res-1111", "CC-Ubuntu22.04-CUDA"},
		"cpu":    {1, "cpu-res-2222", "CC-Ubuntu22.04"},
	}
	rendered := renderUserData(t, w, "split")
	for role, wt := range want {
		got := p.resources("openstack_compute_instance_v2", role)
		if len(got) != wt.count {
			t.Fatalf("%s instances: got %d, want %d", role, len(got), wt.count)
		}
		for i, r := range got {
			if h := reservationHint(t, r); h != wt.reservation {
				t.Errorf("%s: reservation hint %q, want %q", r.Address, h, wt.reservation)
			}
			if r.Values["image_name"] != wt.image || r.Values["flavor_name"] != "baremetal" || r.Values["key_pair"] != "test-key" {
				t.Errorf("%s: image %v flavor %v key %v", r.Address, r.Values["image_name"], r.Values["flavor_name"], r.Values["key_pair"])
			}
			if md, _ := r.Values["metadata"].(map[string]any); md["transcept-role"] != role {
				t.Errorf("%s: metadata %v", r.Address, md)
			}
			// The provider stores user_data as its SHA-1: it must be what console renders.
			key := role + "-" + strconv.Itoa(i)
			if ud, ok := rendered[key]; !ok || r.Values["user_data"] != sha1Hex(ud) {
				t.Errorf("%s: user_data hash %v does not match the rendered cloud-init %q", r.Address, r.Values["user_data"], key)
			}
		}
	}

	// Network, subnet, router to the external network, one floating IP.
	for _, typ := range []string{"openstack_networking_network_v2", "openstack_networking_subnet_v2", "openstack_networking_router_v2", "openstack_networking_router_interface_v2", "openstack_networking_floatingip_v2"} {
		if n := len(p.resources(typ, "")); n != 1 {
			t.Errorf("%s: %d planned, want 1", typ, n)
		}
	}
	if r := p.resources("openstack_networking_router_v2", "cluster"); len(r) == 1 && r[0].Values["external_network_id"] != "ext-net-0000" {
		t.Errorf("router gateway: %v", r[0].Values["external_network_id"])
	}
	if s := p.resources("openstack_networking_subnet_v2", "cluster"); len(s) == 1 && s[0].Values["cidr"] != "192.168.64.0/24" {
		t.Errorf("subnet cidr: %v", s[0].Values["cidr"])
	}
	if f := p.resources("openstack_networking_floatingip_v2", "server"); len(f) == 1 {
		if f[0].Values["pool"] != "public" {
			t.Errorf("floating IP pool %v, want public", f[0].Values["pool"])
		}
		if p.afterUnknown(f[0].Address)["port_id"] != true {
			t.Errorf("floating IP is not bound to the server port")
		}
	}
	ports := p.resources("openstack_networking_port_v2", "")
	if len(ports) != 4 {
		t.Errorf("ports: %d, want 4 (one per node)", len(ports))
	}
	for _, r := range p.resources("openstack_networking_port_v2", "server") {
		fixed, _ := r.Values["fixed_ip"].([]any)
		if len(fixed) != 1 || fixed[0].(map[string]any)["ip_address"] != "192.168.64.10" {
			t.Errorf("%s: fixed_ip %v, want 192.168.64.10", r.Address, fixed)
		}
	}
	if n := len(p.resources("openstack_compute_keypair_v2", "")); n != 0 {
		t.Errorf("a key pair is created although ssh_public_key is empty")
	}

	// Security groups: what the cluster needs and no more from the outside.
	cluster := secgroupRules(t, p, "cluster_internal")
	for _, r := range []rule{
		{"tcp", 6443, 6443, "self"}, {"tcp", 10250, 10250, "self"}, {"udp", 8472, 8472, "self"},
		{"tcp", 2379, 2380, "self"}, {"tcp", 30000, 32767, "self"}, {"tcp", 9100, 9100, "self"},
	} {
		if !slices.Contains(cluster, r) {
			t.Errorf("cluster group lacks %+v; has %+v", r, cluster)
		}
	}
	for _, r := range cluster {
		if r.Source != "self" {
			t.Errorf("node-to-node rule open to %s: %+v", r.Source, r)
		}
	}
	external := secgroupRules(t, p, "cluster_external")
	if !slices.Contains(external, rule{"tcp", 22, 22, "203.0.113.0/24"}) || !slices.Contains(external, rule{"icmp", 0, 0, "0.0.0.0/0"}) {
		t.Errorf("SSH/ICMP rules: %+v", external)
	}
	if slices.Contains(external, rule{"tcp", 22, 22, "0.0.0.0/0"}) {
		t.Errorf("SSH open to the world although ssh_allowed_cidrs is narrower")
	}
	edge := secgroupRules(t, p, "edge")
	wantEdge := []rule{{"tcp", 443, 443, "0.0.0.0/0"}, {"tcp", 6443, 6443, "0.0.0.0/0"}, {"tcp", 80, 80, "0.0.0.0/0"}}
	if len(edge) != 3 {
		t.Errorf("edge rules %+v, want %+v", edge, wantEdge)
	}
	for _, r := range wantEdge {
		if !slices.Contains(edge, r) {
			t.Errorf("edge group lacks %+v", r)
		}
	}

	checkCloudInit(t, rendered, cloudInitWant{
		serverURL: "https://192.168.64.10:6443",
		token:     vars["k3s_token"].(string),
		roles: map[string]nodeWant{
			"server-0": {role: "server", gpu: false, labels: []string{"transcept.io/role=server"}, addons: true},
			"gpu-0":    {role: "agent", gpu: true, labels: []string{"transcept.io/role=gpu", "transcept.io/gpu=true"}, taints: []string{"nvidia.com/gpu=present:NoSchedule"}},
			"gpu-1":    {role: "agent", gpu: true, labels: []string{"transcept.io/role=gpu", "transcept.io/gpu=true"}, taints: []string{"nvidia.com/gpu=present:NoSchedule"}},
			"cpu-0":    {role: "agent", gpu: false, labels: []string{"transcept.io/role=cpu"}},
		},
	})
}

func TestPlanSingleGPUNode(t *testing.T) {
	tl := requireTools(t)
	w := newWorkspace(t, tl)
	vars := withVars(map[string]any{
		"gpu_reservation_id": "gpu-res-1111",
		"gpu_node_count":     0,
		"cpu_node_count":     0,
	})
	p := planScenario(t, w, "single", vars)
	all := p.resources("openstack_compute_instance_v2", "")
	if len(all) != 1 || all[0].Name != "server" {
		t.Fatalf("instances: %+v, want only the server", all)
	}
	if h := reservationHint(t, all[0]); h != "gpu-res-1111" {
		t.Errorf("server reservation %q: without cpu_reservation_id the server uses the GPU lease", h)
	}
	if all[0].Values["image_name"] != "CC-Ubuntu22.04-CUDA" {
		t.Errorf("server image %v, want the CUDA image", all[0].Values["image_name"])
	}
	rendered := renderUserData(t, w, "single")
	checkCloudInit(t, rendered, cloudInitWant{
		serverURL: "https://192.168.64.10:6443",
		token:     vars["k3s_token"].(string),
		roles: map[string]nodeWant{
			// A GPU server keeps hosting the platform: labelled, not tainted.
			"server-0": {role: "server", gpu: true, labels: []string{"transcept.io/role=server", "transcept.io/gpu=true"}, addons: true},
		},
	})
}

func TestPlanExistingNetworkHA(t *testing.T) {
	tl := requireTools(t)
	w := newWorkspace(t, tl)
	p := planScenario(t, w, "shared", withVars(map[string]any{
		"create_network":      false,
		"existing_network_id": "sharednet1-id",
		"external_network_id": "",
		"gpu_reservation_id":  "gpu-res-1111",
		"cpu_reservation_id":  "cpu-res-2222",
		"server_count":        3,
		"gpu_node_count":      1,
		"ssh_public_key":      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB test",
	}))
	for _, typ := range []string{"openstack_networking_network_v2", "openstack_networking_subnet_v2", "openstack_networking_router_v2", "openstack_networking_router_interface_v2"} {
		if n := len(p.resources(typ, "")); n != 0 {
			t.Errorf("%s: %d planned with create_network=false", typ, n)
		}
	}
	for _, r := range p.resources("openstack_networking_port_v2", "") {
		if r.Values["network_id"] != "sharednet1-id" {
			t.Errorf("%s on network %v, want sharednet1-id", r.Address, r.Values["network_id"])
		}
	}
	if n := len(p.resources("openstack_compute_instance_v2", "server")); n != 3 {
		t.Errorf("servers: %d, want 3", n)
	}
	if k := p.resources("openstack_compute_keypair_v2", "cluster"); len(k) != 1 || k[0].Values["name"] != "test-key" {
		t.Errorf("key pair from ssh_public_key: %+v", k)
	}
}

func TestPlanRefusesBareMetalWithoutReservation(t *testing.T) {
	tl := requireTools(t)
	w := newWorkspace(t, tl)
	varFile := w.writeVars("noreservation", withVars(map[string]any{"gpu_node_count": 1}))
	_, err := w.tofu("", "plan", "-input=false", "-lock=false", "-no-color", "-var-file="+varFile)
	if err == nil || !strings.Contains(err.Error(), "bare-metal site") {
		t.Fatalf("plan without a reservation on CHI@UC: err = %v, want the reservation precondition", err)
	}
}

// The offline assertion means something only if the probe sees a provider
// that does authenticate: with delayed_auth off, the plan must reach it (and
// fail, since it answers nothing).
func TestPlanProbeSeesEagerAuthentication(t *testing.T) {
	tl := requireTools(t)
	w := newWorkspace(t, tl)
	w.env = append(w.env, "OS_DELAYED_AUTH=false")
	varFile := w.writeVars("eager", withVars(map[string]any{"gpu_reservation_id": "gpu-res-1111"}))
	_, err := w.tofu("", "plan", "-input=false", "-lock=false", "-no-color", "-var-file="+varFile)
	if err == nil {
		t.Fatal("plan with eager authentication against a silent identity endpoint succeeded")
	}
	if w.probe.conns.Load() == 0 {
		t.Fatalf("the probe saw no connection from an authenticating provider: %v", err)
	}
}
