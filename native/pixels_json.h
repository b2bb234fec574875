// A reader for the JSON bodies of image predictions, {"pixels": [784 numbers]} or {"images": [[…], …]}
// with optional "scale" and "model" strings, straight into floats. It takes only that strict shape and says
// no to anything else, which the caller then reads with a general JSON parser.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fastmlp {

struct PixelsJson {
  std::vector<float> pixels;  // every image's values, image after image
  int64_t images = 0;
  bool batch = false;  // the body had "images" (a list of images), not "pixels" (one image)
  bool has_scale = false, has_model = false;
  std::string scale, model;
  // The extremes of the values as the JSON numbers (doubles) they were, before rounding to float.
  double min = 0, max = 0;
};

// Reads `size` bytes of JSON. True and `out` filled for an object with exactly one of "pixels" (an array of
// image_pixels numbers) or "images" (1 to max_images such arrays), and at most "scale" and "model" besides,
// each key once, strings without escapes or non-ASCII bytes, numbers finite as doubles. False otherwise.
// out's buffers are reused: a reader kept by its caller allocates nothing once they are large enough.
bool read_pixels_json(const uint8_t* data, size_t size, int64_t image_pixels, int64_t max_images, PixelsJson& out);

}  // namespace fastmlp
