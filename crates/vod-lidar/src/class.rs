//! Vehicle size classes, and how the detector tells them from a vehicle's measured height
//! and width (the emulator's class dimensions follow European vehicles).

use serde::Serialize;

/// Motorcycles are narrower than this; cars and vans are wider.
const MOTORCYCLE_MAX_WIDTH_MM: u32 = 1300;
/// Vans are at least this tall, cars lower.
const VAN_MIN_HEIGHT_MM: u32 = 1750;
/// Trucks and buses are at least this tall, vans lower.
const TRUCK_MIN_HEIGHT_MM: u32 = 3000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VehicleClass {
    Car,
    Van,
    Truck,
    Motorcycle,
}

impl VehicleClass {
    /// The class of a vehicle whose highest point and widest extent were measured.
    pub fn from_size(max_height_mm: u32, max_width_mm: u32) -> Self {
        if max_height_mm >= TRUCK_MIN_HEIGHT_MM {
            VehicleClass::Truck
        } else if max_width_mm < MOTORCYCLE_MAX_WIDTH_MM {
            VehicleClass::Motorcycle
        } else if max_height_mm >= VAN_MIN_HEIGHT_MM {
            VehicleClass::Van
        } else {
            VehicleClass::Car
        }
    }

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            VehicleClass::Car => "car",
            VehicleClass::Van => "van",
            VehicleClass::Truck => "truck",
            VehicleClass::Motorcycle => "motorcycle",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_give_classes() {
        let cases = [
            ((1500, 1800), VehicleClass::Car),
            ((1749, 2000), VehicleClass::Car),
            ((1750, 2000), VehicleClass::Van),
            ((2600, 2050), VehicleClass::Van),
            ((3000, 2500), VehicleClass::Truck),
            ((1300, 800), VehicleClass::Motorcycle),
            ((1300, 1299), VehicleClass::Motorcycle),
            ((1300, 1300), VehicleClass::Car),
        ];
        for ((height, width), class) in cases {
            assert_eq!(
                VehicleClass::from_size(height, width),
                class,
                "{height} {width}"
            );
        }
    }
}
