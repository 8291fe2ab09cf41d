package models

import (
	"fmt"
	"regexp"
	"slices"
)

// PyTorch names. Tensor layouts need no conversion: nn stores Linear
// weights [out, in], Conv2d [out, in, k, k] and ConvTranspose2d
// [in, out, k, k] exactly as PyTorch does, and BatchNorm's weight, bias,
// running_mean and running_var keep PyTorch's names. Only module paths
// differ, so this table is the one place that maps a poselab parameter
// name to the key of the same tensor in the state_dict() of the PyTorch
// peer's model (scripts/peer.py):
//
//   - sb: poselab names its layers for reading (input.linear, block0.a.bn);
//     the peer's SB calls them i, bi, blocks.0.l1, blocks.0.b1, o.
//   - sh: the same names on both sides (hourglass.go follows the peer).
//   - ir: the peer wraps torchvision's ResNet children in one nn.Sequential
//     (conv1, bn1, relu, maxpool, layer1..layer4 become back.0, back.1,
//     back.4..back.7); the head's names agree.
//
// Rules are tried in order and the first whose pattern matches rewrites
// that prefix. A name no rule matches is an error, so a layer added to a
// model cannot be exported under a key the peer does not have.
var torchRenames = map[string][]rename{
	"sb": {
		{`^input\.linear\.`, "i."},
		{`^input\.bn\.`, "bi."},
		{`^block(\d+)\.a\.linear\.`, "blocks.${1}.l1."},
		{`^block(\d+)\.a\.bn\.`, "blocks.${1}.b1."},
		{`^block(\d+)\.b\.linear\.`, "blocks.${1}.l2."},
		{`^block(\d+)\.b\.bn\.`, "blocks.${1}.b2."},
		{`^output\.`, "o."},
	},
	"sh": {
		{`^(stem|hg|feat|out|merge_f|merge_o)\.`, "${1}."},
	},
	"ir": {
		{`^backbone\.conv1\.`, "back.0."},
		{`^backbone\.bn1\.`, "back.1."},
		{`^backbone\.layer1\.`, "back.4."},
		{`^backbone\.layer2\.`, "back.5."},
		{`^backbone\.layer3\.`, "back.6."},
		{`^backbone\.layer4\.`, "back.7."},
		{`^(deconv|final)\.`, "${1}."},
	},
}

type rename struct{ pattern, repl string }

var torchRegexps = map[string][]*regexp.Regexp{}

func init() {
	for kind, rules := range torchRenames {
		for _, r := range rules {
			torchRegexps[kind] = append(torchRegexps[kind], regexp.MustCompile(r.pattern))
		}
	}
}

// HasTorchPeer reports whether scripts/peer.py defines model kind `model`
// (sb, sh, ir); TorchName maps the names of those kinds only.
func HasTorchPeer(model string) bool { return torchRenames[model] != nil }

// TorchName returns the peer's state_dict() key of poselab parameter or
// buffer `name` of model kind `model`.
func TorchName(model, name string) (string, error) {
	rules, ok := torchRenames[model]
	if !ok {
		kinds := make([]string, 0, len(torchRenames))
		for k := range torchRenames {
			kinds = append(kinds, k)
		}
		slices.Sort(kinds)
		return "", fmt.Errorf("scripts/peer.py has no %q model (it has %v)", model, kinds)
	}
	for i, re := range torchRegexps[model] {
		if loc := re.FindStringSubmatchIndex(name); loc != nil {
			out := re.ExpandString(nil, rules[i].repl, name, loc)
			return string(out) + name[loc[1]:], nil
		}
	}
	return "", fmt.Errorf("%s parameter %q has no PyTorch name (models/torch.go)", model, name)
}

// PeerCall is the scripts/peer.py constructor that builds this network.
func (c SBConfig) PeerCall() (string, error) {
	return fmt.Sprintf("SB(d=%d, blocks=%d, p=%g, joints=%d)", c.Hidden, c.Blocks, c.Dropout, c.Joints), nil
}

// PeerCall is the scripts/peer.py constructor that builds this network,
// or why the peer cannot: its stem has fixed widths.
func (c SHConfig) PeerCall() (string, error) {
	if c.Stem1 != 64 || c.Stem2 != 128 {
		return "", fmt.Errorf("peer.py's SH has a 64/128-channel stem, this network %d/%d", c.Stem1, c.Stem2)
	}
	return fmt.Sprintf("SH(stacks=%d, f=%d, joints=%d, depth=%d)", c.Stacks, c.Features, c.Joints, c.Depth), nil
}

// PeerCall is the scripts/peer.py constructor that builds this network,
// or why the peer cannot: it takes torchvision's ResNet as it is and
// three 256-channel deconvolutions.
func (c IRConfig) PeerCall() (string, error) {
	std := ResNetConfig{Depth: c.Backbone.Depth}.StageBlocks()
	if c.Backbone.Width != 64 || !slices.Equal(c.Backbone.StageBlocks(), std) || c.Deconvs != 3 || c.DeconvChannels != 256 {
		return "", fmt.Errorf("peer.py's IR is torchvision's ResNet-%d (width 64, blocks %v) with 3 deconvolutions of 256 channels, "+
			"this network has width %d, blocks %v, %d deconvolutions of %d channels",
			c.Backbone.Depth, std, c.Backbone.Width, c.Backbone.StageBlocks(), c.Deconvs, c.DeconvChannels)
	}
	return fmt.Sprintf("IR(depth=%d, joints=%d, zbins=%d)", c.Backbone.Depth, c.Joints, c.Depth), nil
}
