# The demo app's jobs: they only take time, like the README's images and emails.
module DemoJobs
  RotateImage = Struct.new(:number, :seconds) do
    def perform = sleep(seconds)
  end

  SendEmail = Struct.new(:number, :seconds) do
    def perform = sleep(seconds)
  end
end
