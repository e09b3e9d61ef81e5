/**
 * Nubo's image conversion (/nubo/v1; Glance has no such call): the owner of an image (or an admin)
 * asks for a copy in another disk format; the image store creates the new image queued and
 * converts it in a BullMQ job. Progress is read back by the new image's id.
 */
import { Body, Controller, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { ImageCaller, ImageOps, subjects } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { Auth, AuthContext, RequestId } from '../common/auth-context';

const caller = (auth: AuthContext): ImageCaller => ({ projectId: auth.projectId, isAdmin: auth.isAdmin });

@Controller('nubo/v1/images/:id')
export class ImageConversionController {
  constructor(@Inject(RpcClient) private readonly rpc: RpcClient) {}

  /** `{"disk_format": "raw" | "qcow2", "compress": bool, "name": str}` -> 202 with the new image and the job. */
  @Post('convert')
  @HttpCode(202)
  async convert(@Param('id') id: string, @Body() body: unknown, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    return this.rpc.call(subjects.service('image', ImageOps.convert.op), ImageOps.convert, { caller: caller(auth), imageId: id, body }, { requestId });
  }

  /** The conversion that fills image `id` (the NEW image): status, progress 0-100, source, error. */
  @Get('conversion')
  async conversion(@Param('id') id: string, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    const record = await this.rpc.call(subjects.service('image', ImageOps.conversion.op), ImageOps.conversion, { caller: caller(auth), imageId: id }, { requestId });
    return {
      image_id: record.imageId,
      status: record.status,
      progress: record.progress,
      source_image_id: record.sourceImageId,
      error: record.error,
    };
  }
}
