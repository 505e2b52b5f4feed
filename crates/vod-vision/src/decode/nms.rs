//! Greedy non-maximum suppression, per class.

use super::Detection;

/// Keeps the best-scoring detection of each overlapping group (IoU above `iou_threshold`,
/// same class), best first.
pub fn nms(mut detections: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::with_capacity(detections.len());
    for candidate in detections {
        let overlaps = kept.iter().any(|k| {
            k.class_id == candidate.class_id && k.bbox.iou(&candidate.bbox) > iou_threshold
        });
        if !overlaps {
            kept.push(candidate);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::BoxF;

    fn det(x1: f32, score: f32, class_id: u32) -> Detection {
        Detection {
            bbox: BoxF {
                x1,
                y1: 0.0,
                x2: x1 + 10.0,
                y2: 10.0,
            },
            score,
            class_id,
        }
    }

    #[test]
    fn suppresses_overlapping_boxes_of_one_class_and_keeps_the_best() {
        let kept = nms(
            vec![
                det(0.0, 0.5, 0),
                det(1.0, 0.9, 0),
                det(50.0, 0.3, 0),
                det(0.5, 0.4, 1),
            ],
            0.5,
        );
        let scores: Vec<f32> = kept.iter().map(|d| d.score).collect();
        assert_eq!(scores, vec![0.9, 0.4, 0.3]);
    }

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = det(0.0, 1.0, 0).bbox;
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&det(20.0, 1.0, 0).bbox), 0.0);
        assert!((a.iou(&det(5.0, 1.0, 0).bbox) - 1.0 / 3.0).abs() < 1e-6);
    }
}
