//! Ray casting in the scan plane: the scanner's beams against the road and the boxes that
//! vehicles' cross-sections make. Coordinates: lateral position across the road and height
//! above it, in millimetres, with the scanner at (0, mount height); a beam at angle `a` points
//! along (cos a, -sin a), so 90 deg looks straight down.

/// A vehicle's cross-section in the scan plane: a box standing on the road.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Section {
    pub lateral_from_mm: f64,
    pub lateral_to_mm: f64,
    pub height_mm: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Surface {
    Road,
    Vehicle,
}

/// The first surface the beam at `angle_deg` hits within `max_range_mm`, and its range.
pub fn cast(
    mount_height_mm: f64,
    angle_deg: f64,
    sections: &[Section],
    max_range_mm: f64,
) -> Option<(f64, Surface)> {
    let (sin, cos) = angle_deg.to_radians().sin_cos();
    let road = (sin > 1e-9).then(|| (mount_height_mm / sin, Surface::Road));
    sections
        .iter()
        .filter_map(|section| hit_box(mount_height_mm, sin, cos, section))
        .map(|range| (range, Surface::Vehicle))
        .chain(road)
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|(range, _)| *range <= max_range_mm)
}

/// On a wet road, the beam at `angle_deg` that hits the road mirrors off it; when the mirrored
/// beam meets a vehicle, the scanner sees that vehicle below the road: the returned range is
/// the whole way, road plus mirror path. `None` when the beam misses the road or the mirror
/// path meets nothing.
pub fn mirror_range(mount_height_mm: f64, angle_deg: f64, sections: &[Section]) -> Option<f64> {
    let (sin, cos) = angle_deg.to_radians().sin_cos();
    if sin <= 1e-9 {
        return None;
    }
    let road_mm = mount_height_mm / sin;
    let origin = (road_mm * cos, 0.0);
    sections
        .iter()
        .filter_map(|section| hit_box_from(origin, (cos, sin), section))
        .min_by(f64::total_cmp)
        .map(|mirror_mm| road_mm + mirror_mm)
}

/// Slab intersection of the beam with the box; `None` when it misses or starts inside.
fn hit_box(mount_height_mm: f64, sin: f64, cos: f64, section: &Section) -> Option<f64> {
    hit_box_from((0.0, mount_height_mm), (cos, -sin), section)
}

/// Where the ray from `origin` (lateral, height) along `direction` enters the box.
fn hit_box_from(origin: (f64, f64), direction: (f64, f64), section: &Section) -> Option<f64> {
    let lateral = slab(
        origin.0,
        direction.0,
        section.lateral_from_mm,
        section.lateral_to_mm,
    )?;
    let height = slab(origin.1, direction.1, 0.0, section.height_mm)?;
    let enter = lateral.0.max(height.0);
    let exit = lateral.1.min(height.1);
    (enter <= exit && enter > 0.0).then_some(enter)
}

/// The range of `t` for which `origin + t * direction` lies within `[low, high]`.
fn slab(origin: f64, direction: f64, low: f64, high: f64) -> Option<(f64, f64)> {
    if direction.abs() < 1e-12 {
        return (low..=high)
            .contains(&origin)
            .then_some((f64::NEG_INFINITY, f64::INFINITY));
    }
    let a = (low - origin) / direction;
    let b = (high - origin) / direction;
    Some((a.min(b), a.max(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beams_hit_the_road_the_roof_the_side_or_nothing() {
        let car = Section {
            lateral_from_mm: 1000.0,
            lateral_to_mm: 3000.0,
            height_mm: 1500.0,
        };
        let cases = [
            ("straight down", 90.0, Some((6000.0, Surface::Road))),
            ("up", -5.0, None),
            ("horizontal", 0.0, None),
            // Towards lateral +2000 at road level: the roof at 4500 below the scanner.
            (
                "roof",
                6000f64.atan2(2000.0).to_degrees(),
                Some((4500.0 / 6000f64.atan2(2000.0).sin(), Surface::Vehicle)),
            ),
            // Grazing past the near roof edge into the side wall is impossible from above:
            // a beam beyond the box's far edge hits the road.
            (
                "beyond the car",
                6000f64.atan2(5000.0).to_degrees(),
                Some((5000f64.hypot(6000.0), Surface::Road)),
            ),
            ("too far", 10.0, None),
        ];
        for (name, angle_deg, expected) in cases {
            let actual = cast(6000.0, angle_deg, &[car], 20_000.0);
            match (actual, expected) {
                (Some((range, surface)), Some((want, want_surface))) => {
                    assert!((range - want).abs() < 1e-6, "{name}: {range} != {want}");
                    assert_eq!(surface, want_surface, "{name}");
                }
                _ => assert_eq!(actual, expected, "{name}"),
            }
        }
    }

    #[test]
    fn a_wet_road_mirrors_the_vehicle_beside_the_spot() {
        let truck = Section {
            lateral_from_mm: 3000.0,
            lateral_to_mm: 5500.0,
            height_mm: 4000.0,
        };
        // The beam at 45 deg reaches the road at (6000, 0)... beyond the truck: its mirror
        // goes up and away from it. The beam reaching the road at (2000, 0) mirrors up
        // towards (3000, 3000): the truck's near wall, sqrt(2) * 1000 further on.
        assert_eq!(mirror_range(6000.0, 45.0, &[truck]), None);
        let angle_deg = 6000f64.atan2(2000.0).to_degrees();
        let range = mirror_range(6000.0, angle_deg, &[truck]).unwrap();
        let road_mm = 2000f64.hypot(6000.0);
        let mirror_mm = 1000.0 / angle_deg.to_radians().cos();
        assert!((range - road_mm - mirror_mm).abs() < 1e-6, "{range}");
        assert_eq!(mirror_range(6000.0, angle_deg, &[]), None);
        assert_eq!(mirror_range(6000.0, -5.0, &[truck]), None);
    }

    #[test]
    fn a_tall_vehicle_shows_its_side_to_a_low_beam() {
        let truck = Section {
            lateral_from_mm: 3000.0,
            lateral_to_mm: 5500.0,
            height_mm: 4000.0,
        };
        // From 6 m up, the beam to (3000, 3000) meets the truck's near wall there.
        let angle_deg = 3000f64.atan2(3000.0).to_degrees();
        let (range, surface) = cast(6000.0, angle_deg, &[truck], 65_000.0).unwrap();
        assert_eq!(surface, Surface::Vehicle);
        assert!((range - 3000f64.hypot(3000.0)).abs() < 1e-6);
    }
}
