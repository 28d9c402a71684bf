package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Candidate is an EC2 instance a target matched.
type Candidate struct {
	InstanceID string
	Name       string
	Region     string
	State      string
}

var instanceIDRE = regexp.MustCompile(`^i-[0-9a-f]{8,17}$`)

// Find looks target up with EC2 DescribeInstances in every region at once
// (doctor must find instances Systems Manager does not know): an instance
// ID, a private IPv4 address, a private DNS name, or else an exact Name tag.
// Regions that fail are skipped; when nothing matched and some failed, the
// error names them.
func Find(ctx context.Context, regions []string, ec2For func(region string) EC2API, target string) ([]Candidate, error) {
	filter := ec2types.Filter{Name: aws.String("tag:Name"), Values: []string{target}}
	switch {
	case instanceIDRE.MatchString(target):
		filter.Name = aws.String("instance-id")
	case isIPv4(target):
		filter.Name = aws.String("private-ip-address")
	case strings.HasSuffix(target, ".internal"):
		filter.Name = aws.String("private-dns-name")
	}
	var (
		mu    sync.Mutex
		found []Candidate
		errs  []error
		wg    sync.WaitGroup
	)
	for _, region := range regions {
		wg.Go(func() {
			c := ec2For(region)
			in := &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{filter}, MaxResults: aws.Int32(1000)}
			for {
				out, err := c.DescribeInstances(ctx, in)
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", region, err))
					mu.Unlock()
					return
				}
				mu.Lock()
				for _, r := range out.Reservations {
					for _, i := range r.Instances {
						c := Candidate{InstanceID: aws.ToString(i.InstanceId), Name: tag(i.Tags, "Name"), Region: region}
						if i.State != nil {
							c.State = string(i.State.Name)
						}
						found = append(found, c)
					}
				}
				mu.Unlock()
				if aws.ToString(out.NextToken) == "" {
					return
				}
				in.NextToken = out.NextToken
			}
		})
	}
	wg.Wait()
	slices.SortFunc(found, func(a, b Candidate) int { return strings.Compare(a.Region+a.InstanceID, b.Region+b.InstanceID) })
	if len(found) == 0 && len(errs) > 0 {
		return nil, fmt.Errorf("find %s: %w", target, errors.Join(errs...))
	}
	return found, nil
}

func isIPv4(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}
