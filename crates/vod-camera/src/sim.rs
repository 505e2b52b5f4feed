//! The simulated camera: renders a side view of the passing vehicle whose windows show
//! occupants cut from real photographs, so the whole chain from trigger to stored image runs
//! without hardware, and the seat rows occupied are known to measure accuracy against. A
//! camera on the vehicle's right sees the same people as one on its left, mirrored, with the
//! nearer and the farther occupant of each row swapped.

use std::path::Path;
use std::sync::Arc;

use chrono::Utc;
use opencv::core::{Mat, Point, Rect, Scalar, Size, Vec3b};
use opencv::imgproc;
use opencv::prelude::*;
use vod_core::config::{SimScenes, SimSide, SimSource};
use vod_core::{Frame, TriggerCommand, VehicleId};

use crate::{Camera, CameraError, FrameTimes, frame_of};

/// A photo's name, its PNG bytes, and the head-and-shoulders region (x, y, width, height).
type Photo = (&'static str, &'static [u8], (i32, i32, i32, i32));

/// The built-in photos occupants are cut from (see assets/occupants/PROVENANCE.md).
const PHOTOS: [Photo; 2] = [
    (
        "astronaut",
        include_bytes!("../assets/occupants/astronaut.png"),
        (70, 0, 330, 400),
    ),
    (
        "camera",
        include_bytes!("../assets/occupants/camera.png"),
        (90, 40, 280, 340),
    ),
];

/// One occupant the simulated camera drew: the ground truth for a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOccupant {
    /// Seat row, 1 = front.
    pub row: u8,
    /// Where the occupant's picture lies in the frame.
    pub bbox: Rect,
    pub photo: Arc<str>,
    pub child: bool,
    /// Drawn mirrored.
    flip: bool,
    /// Brightness gain, and how much of the picture shows through the glass (0..1).
    gain: f64,
    opacity: f64,
    /// Only the person's outline is drawn (head and shoulders), not the photo's background,
    /// so that whoever sits beyond shows around them.
    cut_out: bool,
}

/// Something in the scene that makes it harder to count, for measuring accuracy by condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SimCondition {
    Child,
    /// A second occupant of a row, partly hidden by the one nearer the camera.
    HiddenBehind,
    Headrest,
    Pillar,
    Tinted,
    Glare,
    NearInfrared,
    /// A bag or a child seat on an empty seat.
    ObjectOnSeat,
}

impl SimCondition {
    pub const ALL: [SimCondition; 8] = [
        SimCondition::Child,
        SimCondition::HiddenBehind,
        SimCondition::Headrest,
        SimCondition::Pillar,
        SimCondition::Tinted,
        SimCondition::Glare,
        SimCondition::NearInfrared,
        SimCondition::ObjectOnSeat,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SimCondition::Child => "child",
            SimCondition::HiddenBehind => "hidden_behind",
            SimCondition::Headrest => "headrest",
            SimCondition::Pillar => "pillar",
            SimCondition::Tinted => "tinted",
            SimCondition::Glare => "glare",
            SimCondition::NearInfrared => "near_infrared",
            SimCondition::ObjectOnSeat => "object_on_seat",
        }
    }
}

/// Something drawn over the occupants or on a seat: a headrest, a pillar, a bag, a child seat.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Prop {
    rect: Rect,
    colour: [f64; 3],
    /// Drawn before the occupants (on the seat) rather than over them.
    behind: bool,
}

/// Light across a window: a bright slanted band blended over it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Glare {
    window: Rect,
    strength: f64,
}

/// What the simulated camera shows of one vehicle in one frame of its burst.
#[derive(Debug, Clone, PartialEq)]
pub struct SimScene {
    /// The seat row of each occupant, front first; the same for every frame of a vehicle.
    pub occupied_rows: Vec<u8>,
    /// In drawing order: an occupant hidden behind another comes first.
    pub occupants: Vec<SimOccupant>,
    /// Sorted, each once.
    pub conditions: Vec<SimCondition>,
    props: Vec<Prop>,
    glare: Vec<Glare>,
    near_infrared: bool,
}

#[derive(Debug)]
pub struct SimCamera {
    name: Arc<str>,
    width: u32,
    height: u32,
    scenes: SimScenes,
    side: SimSide,
    /// The occupants' pictures, BGR: head-and-shoulders crops of the built-in photos, or the
    /// photos of `occupants_dir` whole.
    photos: Vec<(Arc<str>, Mat)>,
}

impl SimCamera {
    /// Clear scenes of the built-in occupants.
    pub fn new(name: Arc<str>, width: u32, height: u32) -> Result<Self, CameraError> {
        Self::from_source(name, &SimSource::sized(width, height))
    }

    pub fn from_source(name: Arc<str>, source: &SimSource) -> Result<Self, CameraError> {
        let photos = match &source.occupants_dir {
            Some(dir) => photos_in(&name, dir)?,
            None => built_in_photos().map_err(|source| CameraError::Render {
                camera: name.to_string(),
                source,
            })?,
        };
        Ok(SimCamera {
            name,
            width: source.width,
            height: source.height,
            scenes: source.scenes,
            side: source.side,
            photos,
        })
    }

    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The ground truth for `vehicle` in frame `burst_index`, without rendering it.
    pub fn scene(&self, vehicle: VehicleId, burst_index: u32) -> SimScene {
        let mut scene = self.drawn_scene(vehicle, burst_index);
        if self.side == SimSide::Right {
            // Drawn as from the left, then mirrored.
            let width = self.width as i32;
            for occupant in &mut scene.occupants {
                occupant.bbox.x = width - occupant.bbox.x - occupant.bbox.width;
            }
        }
        scene
    }

    /// The scene as it is drawn, before a view from the right is mirrored.
    fn drawn_scene(&self, vehicle: VehicleId, burst_index: u32) -> SimScene {
        let layout = Layout::new(self.width as i32, self.height as i32, burst_index);
        let seed = vehicle.0.as_u128() as u64 ^ (vehicle.0.as_u128() >> 64) as u64;
        let id = vehicle.0.as_bytes();
        // Flip and brightness come from their own generator: in clear scenes the one they
        // always came from (it varies little between vehicles), in hard ones the vehicle's.
        let (mut scene, mut looks) = match self.scenes {
            SimScenes::Clear => (
                self.clear_scene(&layout, seed),
                SplitMix(id[15] as u64 | (u64::from(id[14]) << 8)),
            ),
            SimScenes::Hard => (self.hard_scene(&layout, seed), SplitMix(seed ^ 0x100C5)),
        };
        for occupant in &mut scene.occupants {
            occupant.flip = looks.next().is_multiple_of(2);
            occupant.gain *= 0.75 + 0.2 * looks.unit();
        }
        scene.occupied_rows = scene.occupants.iter().map(|o| o.row).collect();
        scene.occupied_rows.sort();
        scene.conditions.sort();
        scene.conditions.dedup();
        scene
    }

    /// A driver, and a rear passenger half of the time; adults behind clear glass.
    fn clear_scene(&self, layout: &Layout, seed: u64) -> SimScene {
        let mut rng = SplitMix(seed);
        let rear = rng.next().is_multiple_of(2);
        let mut occupants = Vec::new();
        for (row, window) in [(1u8, layout.front_window), (2u8, layout.rear_window)] {
            let photo = self.photo_index(&mut rng);
            let scale = 0.80 + 0.15 * rng.unit();
            let shift = rng.unit();
            if row == 2 && !rear || window.height < 16 {
                continue;
            }
            occupants.push(self.occupant(row, window, photo, scale, shift, false));
        }
        SimScene::of(occupants)
    }

    /// What `SimScenes::Hard` promises; each vehicle draws its own mix.
    fn hard_scene(&self, layout: &Layout, seed: u64) -> SimScene {
        let mut rng = SplitMix(seed ^ 0x4A5D);
        let mut scene = SimScene::of(Vec::new());
        for (row, window) in [(1u8, layout.front_window), (2u8, layout.rear_window)] {
            if window.height < 16 {
                continue;
            }
            // The front row: a driver, and at times a passenger beyond them. The rear row:
            // nobody (40 %), one (40 %) or two (20 %).
            let roll = rng.unit();
            let people = match row {
                1 => 1 + usize::from(roll < 0.3),
                _ if roll < 0.4 => 0,
                _ if roll < 0.8 => 1,
                _ => 2,
            };
            // Each person's draws in seat order (the driver, or the nearer rear seat from the
            // left, first), so that both sides of a vehicle show the same people.
            let mut drawn = Vec::with_capacity(people);
            for seat in 0..people {
                let photo = self.photo_index(&mut rng);
                // A driver is an adult; anyone else is a child a third of the time.
                let child = !(row == 1 && seat == 0) && rng.unit() < 0.35;
                let scale = if child {
                    0.50 + 0.15 * rng.unit()
                } else {
                    0.80 + 0.15 * rng.unit()
                };
                if child {
                    scene.conditions.push(SimCondition::Child);
                }
                drawn.push((photo, child, scale, rng.unit()));
            }
            // From the right, the second seat of the row is the nearer one.
            if self.side == SimSide::Right {
                drawn.reverse();
            }
            let mut seated: Vec<SimOccupant> = Vec::with_capacity(people);
            for &(photo, child, scale, shift) in &drawn {
                let occupant = self.occupant(row, window, photo, scale, shift, child);
                seated.push(match seated.first() {
                    // Beyond the first, further from the camera: smaller, moved aside by 55
                    // to 75 % of its width as far as the window allows, drawn first.
                    Some(first) => {
                        scene.conditions.push(SimCondition::HiddenBehind);
                        beside(occupant, first, window, &mut rng)
                    }
                    None => occupant,
                });
            }
            let mut headrests: Vec<bool> = (0..people).map(|_| rng.unit() < 0.3).collect();
            if self.side == SimSide::Right {
                headrests.reverse();
            }
            for (occupant, _) in seated.iter().zip(headrests).filter(|(_, has)| *has) {
                scene.props.push(headrest(occupant));
                scene.conditions.push(SimCondition::Headrest);
            }
            if people == 0 && rng.unit() < 0.5 {
                scene.props.push(object_on_seat(window, &mut rng));
                scene.conditions.push(SimCondition::ObjectOnSeat);
            }
            if rng.unit() < 0.25 {
                scene.props.push(pillar(window, rng.unit() < 0.5));
                scene.conditions.push(SimCondition::Pillar);
            }
            let tinted = rng.unit() < 0.3;
            let opacity = if tinted {
                0.45 + 0.15 * rng.unit()
            } else {
                0.80 + 0.10 * rng.unit()
            };
            if tinted {
                scene.conditions.push(SimCondition::Tinted);
            }
            if rng.unit() < 0.2 {
                scene.glare.push(Glare {
                    window,
                    strength: 0.35 + 0.2 * rng.unit(),
                });
                scene.conditions.push(SimCondition::Glare);
            }
            // The one beyond is drawn first, so that the nearer one covers it.
            for mut occupant in seated.into_iter().rev() {
                occupant.opacity = opacity;
                occupant.cut_out = true;
                scene.occupants.push(occupant);
            }
        }
        if rng.unit() < 0.25 {
            scene.near_infrared = true;
            scene.conditions.push(SimCondition::NearInfrared);
        }
        scene
    }

    fn photo_index(&self, rng: &mut SplitMix) -> usize {
        (rng.next() % self.photos.len() as u64) as usize
    }

    /// An occupant of `scale` of the window's height, standing on its bottom edge, `shift`
    /// (0..1) of the free width from its left.
    fn occupant(
        &self,
        row: u8,
        window: Rect,
        photo: usize,
        scale: f64,
        shift: f64,
        child: bool,
    ) -> SimOccupant {
        let (name, crop) = &self.photos[photo];
        let aspect = f64::from(crop.cols()) / f64::from(crop.rows().max(1));
        let h = (f64::from(window.height) * scale) as i32;
        let w = ((f64::from(h) * aspect) as i32).min(window.width);
        let x = window.x + ((f64::from(window.width - w)) * shift) as i32;
        let y = window.y + window.height - h;
        SimOccupant {
            row,
            bbox: Rect::new(x, y, w, h),
            photo: name.clone(),
            child,
            flip: false,
            gain: 1.0,
            opacity: 0.9,
            cut_out: false,
        }
    }

    fn render(&self, trigger: &TriggerCommand, burst_index: u32) -> opencv::Result<Mat> {
        let (w, h) = (self.width as i32, self.height as i32);
        let layout = Layout::new(w, h, burst_index);
        let mut image =
            Mat::new_rows_cols_with_default(h, w, Vec3b::opencv_type(), Scalar::all(0.0))?;
        filled(&mut image, Rect::new(0, 0, w, layout.road_y), sky())?;
        filled(&mut image, Rect::new(0, layout.road_y, w, h), road())?;
        let mut paint_rng = SplitMix(trigger.vehicle_id.0.as_u128() as u64 ^ 0x5EED);
        let mut channel = || 40.0 + 200.0 * paint_rng.unit();
        let paint = Scalar::new(channel(), channel(), channel(), 0.0);
        filled(&mut image, layout.body, paint)?;
        filled(&mut image, layout.cabin, paint)?;
        let glass = Scalar::new(70.0, 60.0, 50.0, 0.0);
        filled(&mut image, layout.front_window, glass)?;
        filled(&mut image, layout.rear_window, glass)?;
        let scene = self.drawn_scene(trigger.vehicle_id, burst_index);
        for prop in scene.props.iter().filter(|p| p.behind) {
            filled(&mut image, prop.rect, colour(prop.colour))?;
        }
        for occupant in &scene.occupants {
            let Some((_, crop)) = self.photos.iter().find(|(p, _)| *p == occupant.photo) else {
                continue;
            };
            let mut scaled = Mat::default();
            let size = Size::new(occupant.bbox.width, occupant.bbox.height);
            imgproc::resize(crop, &mut scaled, size, 0.0, 0.0, imgproc::INTER_AREA)?;
            if occupant.flip {
                let mut flipped = Mat::default();
                opencv::core::flip(&scaled, &mut flipped, 1)?;
                scaled = flipped;
            }
            // Seen through the glass: darker, and some of the tint.
            let mut tinted = Mat::default();
            scaled.convert_to(&mut tinted, -1, occupant.gain, 0.0)?;
            let mut target = image.roi_mut(occupant.bbox)?;
            let mut blended = Mat::default();
            let (a, b) = (occupant.opacity, 1.0 - occupant.opacity);
            opencv::core::add_weighted(&tinted, a, &target, b, 0.0, &mut blended, -1)?;
            if occupant.cut_out {
                blended.copy_to_masked(&mut target, &outline(size)?)?;
            } else {
                blended.copy_to(&mut target)?;
            }
        }
        for prop in scene.props.iter().filter(|p| !p.behind) {
            filled(&mut image, prop.rect, colour(prop.colour))?;
        }
        for glare in &scene.glare {
            let mut target = image.roi_mut(glare.window)?;
            let mut light = Mat::default();
            target.copy_to(&mut light)?;
            let (gw, gh) = (glare.window.width, glare.window.height);
            let band = opencv::core::Vector::<Point>::from_iter([
                Point::new(gw / 3, 0),
                Point::new(gw * 2 / 3, 0),
                Point::new(gw / 2, gh),
                Point::new(gw / 6, gh),
            ]);
            imgproc::fill_convex_poly(&mut light, &band, Scalar::all(255.0), imgproc::LINE_AA, 0)?;
            let mut blended = Mat::default();
            let s = glare.strength;
            opencv::core::add_weighted(&light, s, &target, 1.0 - s, 0.0, &mut blended, -1)?;
            blended.copy_to(&mut target)?;
        }
        for wheel_x in layout.wheels_x {
            imgproc::circle(
                &mut image,
                Point::new(wheel_x, layout.body.y + layout.body.height),
                layout.body.height / 2,
                Scalar::all(20.0),
                imgproc::FILLED,
                imgproc::LINE_AA,
                0,
            )?;
        }
        if scene.near_infrared {
            // A near-infrared flash: one channel, faces and skin bright.
            let mut grey = Mat::default();
            imgproc::cvt_color_def(&image, &mut grey, imgproc::COLOR_BGR2GRAY)?;
            let mut lit = Mat::default();
            grey.convert_to(&mut lit, -1, 1.15, 10.0)?;
            imgproc::cvt_color_def(&lit, &mut image, imgproc::COLOR_GRAY2BGR)?;
        }
        if self.side == SimSide::Right {
            let mut mirrored = Mat::default();
            opencv::core::flip(&image, &mut mirrored, 1)?;
            image = mirrored;
        }
        let label = format!("{} {} #{}", self.name, trigger.vehicle_id, burst_index);
        imgproc::put_text(
            &mut image,
            &label,
            Point::new(10, h - 20),
            imgproc::FONT_HERSHEY_SIMPLEX,
            f64::from(h) / 1200.0,
            Scalar::all(255.0),
            2,
            imgproc::LINE_AA,
            false,
        )?;
        Ok(image)
    }
}

impl SimScene {
    fn of(occupants: Vec<SimOccupant>) -> SimScene {
        SimScene {
            occupied_rows: Vec::new(),
            occupants,
            conditions: Vec::new(),
            props: Vec::new(),
            glare: Vec::new(),
            near_infrared: false,
        }
    }
}

/// `occupant` moved beside `first`, a quarter smaller (further away), still inside `window`.
fn beside(
    occupant: SimOccupant,
    first: &SimOccupant,
    window: Rect,
    rng: &mut SplitMix,
) -> SimOccupant {
    let w = occupant.bbox.width * 3 / 4;
    let h = occupant.bbox.height * 3 / 4;
    let offset = (f64::from(first.bbox.width) * (0.55 + 0.20 * rng.unit())) as i32;
    // Toward the side of the window with more room.
    let room_left = first.bbox.x - window.x;
    let room_right = window.x + window.width - (first.bbox.x + first.bbox.width);
    let x = if room_left > room_right {
        first.bbox.x - offset
    } else {
        first.bbox.x + first.bbox.width + offset - w
    };
    let x = x.clamp(window.x, window.x + window.width - w);
    let y = window.y + window.height - h;
    SimOccupant {
        bbox: Rect::new(x, y, w, h),
        ..occupant
    }
}

/// A headrest beside the occupant's head, toward the back of the car (left): it hides the
/// back of the head and some of the face.
fn headrest(occupant: &SimOccupant) -> Prop {
    let b = occupant.bbox;
    let (w, h) = (b.width * 2 / 5, b.height / 3);
    Prop {
        rect: Rect::new(b.x, b.y + b.height / 10, w, h),
        colour: [35.0, 35.0, 40.0],
        behind: false,
    }
}

/// A pillar across one edge of the window, over a sixth of its width.
fn pillar(window: Rect, left: bool) -> Prop {
    let w = window.width / 6;
    let x = if left {
        window.x
    } else {
        window.x + window.width - w
    };
    Prop {
        rect: Rect::new(x, window.y, w, window.height),
        colour: [30.0, 30.0, 30.0],
        behind: false,
    }
}

/// A bag (brown) or a child seat (grey) on the seat: low in the window, no person.
fn object_on_seat(window: Rect, rng: &mut SplitMix) -> Prop {
    let bag = rng.unit() < 0.5;
    let (w, h) = if bag {
        (window.width / 3, window.height / 4)
    } else {
        (window.width * 2 / 5, window.height / 2)
    };
    let x = window.x + ((window.width - w) as f64 * rng.unit()) as i32;
    let colour = if bag {
        [40.0, 70.0, 110.0]
    } else {
        [60.0, 60.0, 60.0]
    };
    Prop {
        rect: Rect::new(x, window.y + window.height - h, w, h),
        colour,
        behind: true,
    }
}

/// A head-and-shoulders outline filling `size`: a head at the top, shoulders along the bottom.
fn outline(size: Size) -> opencv::Result<Mat> {
    let mut mask = Mat::new_size_with_default(size, opencv::core::CV_8UC1, Scalar::all(0.0))?;
    let (w, h) = (size.width, size.height);
    for (centre, axes) in [
        (
            Point::new(w / 2, h * 3 / 10),
            Size::new(w * 3 / 10, h * 3 / 10),
        ),
        (Point::new(w / 2, h), Size::new(w / 2, h * 2 / 5)),
    ] {
        imgproc::ellipse(
            &mut mask,
            centre,
            axes,
            0.0,
            0.0,
            360.0,
            Scalar::all(255.0),
            imgproc::FILLED,
            imgproc::LINE_8,
            0,
        )?;
    }
    Ok(mask)
}

fn colour([b, g, r]: [f64; 3]) -> Scalar {
    Scalar::new(b, g, r, 0.0)
}

fn built_in_photos() -> opencv::Result<Vec<(Arc<str>, Mat)>> {
    PHOTOS
        .iter()
        .map(|(photo, png, (x, y, w, h))| {
            let bytes = opencv::core::Vector::<u8>::from_slice(png);
            let image = opencv::imgcodecs::imdecode(&bytes, opencv::imgcodecs::IMREAD_COLOR)?;
            let mut crop = Mat::default();
            image.roi(Rect::new(*x, *y, *w, *h))?.copy_to(&mut crop)?;
            Ok((Arc::from(*photo), crop))
        })
        .collect()
}

/// Every PNG or JPEG photo in `dir`, by file name, whole, as BGR.
fn photos_in(camera: &str, dir: &Path) -> Result<Vec<(Arc<str>, Mat)>, CameraError> {
    let error = |detail: String| CameraError::Device {
        camera: camera.to_owned(),
        what: "reading the occupant photos",
        detail,
    };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| error(format!("{}: {e}", dir.display())))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(error(format!(
            "{} holds no PNG or JPEG file",
            dir.display()
        )));
    }
    paths
        .iter()
        .map(|path| {
            let rgb = image::open(path)
                .map_err(|e| error(format!("{}: {e}", path.display())))?
                .to_rgb8();
            let name = path.file_stem().map_or_else(
                || path.display().to_string(),
                |s| s.to_string_lossy().into_owned(),
            );
            Ok((
                Arc::from(name),
                bgr_mat(&rgb).map_err(|e| error(e.to_string()))?,
            ))
        })
        .collect()
}

/// An `image` RGB buffer as an OpenCV BGR matrix.
fn bgr_mat(rgb: &image::RgbImage) -> opencv::Result<Mat> {
    let flat = Mat::from_slice(rgb.as_raw())?;
    let rgb_mat = flat.reshape(3, rgb.height() as i32)?;
    let mut bgr = Mat::default();
    imgproc::cvt_color_def(&rgb_mat, &mut bgr, imgproc::COLOR_RGB2BGR)?;
    Ok(bgr)
}

/// Where the parts of the vehicle lie in a `w` x `h` frame: the vehicle fills most of the
/// width, so that occupants are large enough for the detectors, and moves right by 1/40 of
/// the width per burst frame.
struct Layout {
    road_y: i32,
    body: Rect,
    cabin: Rect,
    front_window: Rect,
    rear_window: Rect,
    wheels_x: [i32; 2],
}

impl Layout {
    fn new(w: i32, h: i32, burst_index: u32) -> Self {
        let x0 = w / 40 + burst_index.min(4) as i32 * w / 40;
        let body_w = w * 17 / 20;
        let road_y = h * 4 / 5;
        let body = Rect::new(x0, road_y - h / 4, body_w, h / 5);
        let cabin_h = h * 9 / 20;
        let cabin = Rect::new(x0 + body_w / 10, body.y - cabin_h, body_w * 8 / 10, cabin_h);
        let window_w = cabin.width * 9 / 20;
        let window_h = cabin_h * 17 / 20;
        let window_y = cabin.y + cabin_h / 10;
        // Drawn as from the vehicle's left (the view from its right is this, mirrored): the
        // driver sits on the right, the vehicle drives to the right of the frame.
        let rear_window = Rect::new(cabin.x + cabin.width / 30, window_y, window_w, window_h);
        let front_window = Rect::new(
            cabin.x + cabin.width - window_w - cabin.width / 30,
            window_y,
            window_w,
            window_h,
        );
        Layout {
            road_y,
            body,
            cabin,
            front_window,
            rear_window,
            wheels_x: [x0 + body_w / 5, x0 + body_w * 4 / 5],
        }
    }
}

/// A small deterministic generator (SplitMix64), so each vehicle id always looks the same.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn sky() -> Scalar {
    Scalar::new(200.0, 170.0, 140.0, 0.0)
}

fn road() -> Scalar {
    Scalar::new(80.0, 80.0, 80.0, 0.0)
}

fn filled(image: &mut Mat, rect: Rect, colour: Scalar) -> opencv::Result<()> {
    imgproc::rectangle(image, rect, colour, imgproc::FILLED, imgproc::LINE_8, 0)
}

impl Camera for SimCamera {
    fn grab(&mut self, trigger: &TriggerCommand, burst_index: u32) -> Result<Frame, CameraError> {
        let image = self
            .render(trigger, burst_index)
            .map_err(|source| CameraError::Render {
                camera: self.name.to_string(),
                source,
            })?;
        let times = FrameTimes {
            captured_utc: Utc::now(),
            device_timestamp_ns: None,
        };
        frame_of(&self.name, trigger, burst_index, &image, times).map_err(|source| {
            CameraError::Image {
                camera: self.name.to_string(),
                source,
            }
        })
    }
}

#[cfg(test)]
mod tests;
