# Module description for building inside ITK (mode (a) of docs/architecture.md §2).
get_filename_component(MY_CURRENT_DIR "${CMAKE_CURRENT_LIST_FILE}" PATH)
file(READ "${MY_CURRENT_DIR}/README.md" DOCUMENTATION)

itk_module(IMASegmentation
  DEPENDS
    ITKCommon
    ITKIOImageBase
    ITKImageGrid
    ITKImageIntensity
  COMPILE_DEPENDS
    ITKImageSources
  TEST_DEPENDS
    ITKTestKernel
    ITKGoogleTest
    ITKIONIFTI
    ITKIONRRD
    ITKIOMeta
  DESCRIPTION
    "${DOCUMENTATION}"
  EXCLUDE_FROM_DEFAULT
  ENABLE_SHARED
)
