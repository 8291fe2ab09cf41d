package synth

import (
	"fmt"

	"poselab/datasets"
)

func checkSpec(spec datasets.CropSpec) error {
	if spec.Size < 8 || spec.Size > 4096 {
		return fmt.Errorf("synth: crop size %d px out of range 8..4096", spec.Size)
	}
	return nil
}

// Image renders the crop of record i of a split, as spec says. A flipped
// crop mirrors pixels only; the caller swaps left and right joints.
func (d *Dataset) Image(split datasets.Split, i int, spec datasets.CropSpec) (*datasets.Crop, error) {
	return d.image(split, i, spec, renderOpts{})
}

func (d *Dataset) image(split datasets.Split, i int, spec datasets.CropSpec, opts renderOpts) (*datasets.Crop, error) {
	if err := checkSpec(spec); err != nil {
		return nil, err
	}
	sp, err := d.h36mSplit(split)
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= len(sp.recs) {
		return nil, fmt.Errorf("synth: %s record %d out of range 0..%d", split, i, len(sp.recs)-1)
	}
	rec := &sp.recs[i]
	sc := &sp.scenes[i]
	crop := &datasets.Crop{Size: spec.Size, A: datasets.CropTransform(rec.Center, rec.Scale, spec)}
	render(crop, &scene{cam: &rec.Cam, joints: &rec.Joints3D, body: d.bodies[sc.subject], room: d.rooms[sc.subject], light: sc.light, key: sc.key, decor: sc.decor}, opts)
	return crop, nil
}

// MPIIImage renders the crop of MPII-like person i of a split.
func (d *Dataset) MPIIImage(split datasets.Split, i int, spec datasets.CropSpec) (*datasets.Crop, error) {
	return d.mpiiImage(split, i, spec, renderOpts{})
}

func (d *Dataset) mpiiImage(split datasets.Split, i int, spec datasets.CropSpec, opts renderOpts) (*datasets.Crop, error) {
	if err := checkSpec(spec); err != nil {
		return nil, err
	}
	sp, err := d.mpiiSplit(split)
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= len(sp.recs) {
		return nil, fmt.Errorf("synth: MPII %s person %d out of range 0..%d", split, i, len(sp.recs)-1)
	}
	rec := &sp.recs[i]
	sc := &sp.scenes[i]
	crop := &datasets.Crop{Size: spec.Size, A: datasets.CropTransform(rec.Center, rec.Scale, spec)}
	render(crop, &scene{cam: &sc.cam, joints: &sc.joints, body: &sc.body, room: &sc.room, light: sc.light, key: sc.key, decor: uint32(sc.key)}, opts)
	return crop, nil
}
