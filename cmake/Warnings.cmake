# Project-wide warning set, applied per target so third-party headers stay quiet.
function(mcip_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
endfunction()
