// Writes the trainer's test fixture dataset: fixture_tool DIR [train_count] [eval_count] [seed]
#include <cstdlib>
#include <iostream>

#include "fixture.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: trainer-fixture DIR [train_count=220] [eval_count=44] [seed=1]\n";
    return 2;
  }
  mcip::test::write_fixture_dataset(argv[1], argc > 2 ? std::atoi(argv[2]) : 220, argc > 3 ? std::atoi(argv[3]) : 44,
                                    argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 1);
  return 0;
}
