RSpec.describe "the native extension" do
  it "is the one compiled from this version of the crate" do
    expect(MiddleManagement::Internal::Native.crate_version).to eq(MiddleManagement::VERSION)
  end

  it "is loaded from the compiled library, not a Ruby stand-in" do
    path = $LOADED_FEATURES.grep(%r{middle_management/middle_management\.#{RbConfig::CONFIG["DLEXT"]}\z})
    expect(path).not_to be_empty
  end
end
