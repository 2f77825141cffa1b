# mcip_embed_file(<target> <input> <symbol>): compiles <input> into <target> as
#   extern "C" const unsigned char <symbol>[]; extern "C" const unsigned long <symbol>_size;
# Regenerated whenever <input> changes, so the binaries always carry the file in the tree.
set(MCIP_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/EmbedFileScript.cmake)
function(mcip_embed_file target input symbol)
  get_filename_component(abs_input ${input} ABSOLUTE)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/embedded_${symbol}.c)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DINPUT=${abs_input} -DOUTPUT=${out} -DSYMBOL=${symbol} -P ${MCIP_EMBED_SCRIPT}
    DEPENDS ${abs_input} ${MCIP_EMBED_SCRIPT}
    COMMENT "Embedding ${input} as ${symbol}"
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()
