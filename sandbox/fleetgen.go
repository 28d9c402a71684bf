package sandbox

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// GenOptions sizes a generated fleet (benchmarks, load tests).
type GenOptions struct {
	Instances int      // total nodes, spread round-robin over accounts and regions
	Regions   []string // default: the first Regions entries of KnownRegions
	NRegions  int      // used when Regions is empty; default 17
	Accounts  int      // default 1
	// ManagedEvery makes every n-th node an on-prem mi- node; 0 = none.
	ManagedEvery int
	Seed         uint64
}

// GenerateFleet builds a deterministic fleet of opts.Instances nodes with
// realistic names, tags and platforms. Account k (from 0) has ID
// 1000000000kk, profile "gen-k" and access key "AKIAGEN…k".
func GenerateFleet(opts GenOptions) *Fleet {
	regions := opts.Regions
	if len(regions) == 0 {
		n := opts.NRegions
		if n <= 0 {
			n = 17
		}
		regions = KnownRegions[:min(n, len(KnownRegions))]
	}
	if opts.Accounts <= 0 {
		opts.Accounts = 1
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x5eed))
	f := &Fleet{}
	for k := range opts.Accounts {
		f.Accounts = append(f.Accounts, Account{
			ID:              fmt.Sprintf("1000000000%02d", k),
			Profile:         fmt.Sprintf("gen-%d", k),
			AccessKeyID:     fmt.Sprintf("AKIAGEN%013d", k),
			SecretAccessKey: "gen-secret",
			Regions:         regions,
		})
	}
	roles := []string{"web", "api", "worker", "db", "cache", "batch", "bastion", "queue"}
	envs := []string{"prod", "staging", "dev"}
	platforms := []struct{ typ, name, ver string }{
		{"Linux", "Amazon Linux", "2023"}, {"Linux", "Ubuntu", "24.04"}, {"Linux", "Debian GNU/Linux", "12"},
		{"Linux", "Red Hat Enterprise Linux", "9.4"}, {"Windows", "Microsoft Windows Server 2022 Datacenter", "10.0.20348"},
	}
	for n := range opts.Instances {
		acct := &f.Accounts[n%opts.Accounts]
		region := regions[(n/opts.Accounts)%len(regions)]
		p := platforms[rng.IntN(len(platforms))]
		role, env := roles[rng.IntN(len(roles))], envs[rng.IntN(len(envs))]
		in := Instance{
			ID:              fmt.Sprintf("i-%017x", uint64(n)+0x0a00000000000000),
			Region:          region,
			Name:            fmt.Sprintf("%s-%s-%d", env, role, n),
			Tags:            map[string]string{"Env": env, "Role": role, "Team": "team-" + string(rune('a'+rng.IntN(6)))},
			PlatformType:    p.typ,
			PlatformName:    p.name,
			PlatformVersion: p.ver,
			InstanceType:    []string{"t3.micro", "t3.small", "m7g.large", "c7i.xlarge"}[rng.IntN(4)],
			PrivateIP:       fmt.Sprintf("10.%d.%d.%d", n>>16&0xff, n>>8&0xff, n&0xff),
			VPCID:           fmt.Sprintf("vpc-%08x", rng.Uint32()),
			SubnetID:        fmt.Sprintf("subnet-%08x", rng.Uint32()),
			LaunchTime:      defaultLaunchTime.Add(-time.Duration(rng.IntN(9000)) * time.Hour),
			InstanceProfile: role + "-profile",
		}
		if opts.ManagedEvery > 0 && n%opts.ManagedEvery == opts.ManagedEvery-1 {
			in.ID = fmt.Sprintf("mi-%017x", uint64(n)+0x0b00000000000000)
			in.ComputerName = fmt.Sprintf("onprem-%d.corp.example", n)
			in.InstanceProfile, in.VPCID, in.SubnetID = "", "", ""
		}
		acct.Instances = append(acct.Instances, in)
	}
	return f
}
