// The dataset card (README.md) written next to a dataset's manifest.json. It is rendered from
// the manifest alone, so a merged sharded dataset gets exactly the card of an unsharded run.
#pragma once
#include <string>

#include "mcip/synth/document.h"

namespace mcip::taxonomy {
class Taxonomy;
}

namespace mcip::synth {

std::string dataset_card(const ojson& manifest, const taxonomy::Taxonomy& tax);

}  // namespace mcip::synth
