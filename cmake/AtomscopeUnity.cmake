# atomscope_unity(target): compile the target's sources in batches of ATOMSCOPE_UNITY_BATCH.
# Sources in one batch share a translation unit, so file-local names (anonymous namespaces,
# static functions) must differ between the files of one target.
function(atomscope_unity target)
  if(ATOMSCOPE_UNITY)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_MODE BATCH
                          UNITY_BUILD_BATCH_SIZE ${ATOMSCOPE_UNITY_BATCH})
  endif()
endfunction()
