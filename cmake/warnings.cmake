# Warnings for project code; tests get a slightly relaxed set.
add_library(project_warnings INTERFACE)
target_compile_options(project_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Wimplicit-fallthrough)
if(TREECACHED_WERROR)
  target_compile_options(project_warnings INTERFACE -Werror)
endif()

add_library(test_warnings INTERFACE)
target_compile_options(test_warnings INTERFACE -Wall -Wextra -Wshadow)
if(TREECACHED_WERROR)
  target_compile_options(test_warnings INTERFACE -Werror)
endif()
